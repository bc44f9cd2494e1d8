"""Vehicle identification number (VIN, Dutch: *chassisnummer*) rules.

A VIN has 17 characters from the digits and the upper-case Latin letters except
``I``, ``O`` and ``Q`` (ISO 3779), which are never used because they are too
easily confused with ``1`` and ``0``.

Position 9 is a check digit computed with the ISO 3779 / North-American
(49 CFR 565) algorithm: every character is transliterated to a number, multiplied
by the weight of its position, the sum is taken modulo 11 and a remainder of 10
is written as ``X``. The check digit is mandatory for vehicles built for North
America (world manufacturer identifier starting with ``1`` to ``5``); elsewhere
it is optional, so it is only enforced there or when the caller asks for it
(``require_check_digit=True``).

BMW's after-sales systems also use the *short VIN*: the last seven characters
(positions 11-17: the plant code and the serial number).

This module is pure: no I/O, no imports from other project packages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

from domain.errors import DomainError

__all__ = [
    "CHECK_DIGIT_POSITION",
    "FORBIDDEN_LETTERS",
    "SHORT_VIN_LENGTH",
    "SHORT_VIN_PATTERN",
    "VIN_ALPHABET",
    "VIN_LENGTH",
    "VIN_PATTERN",
    "InvalidVin",
    "VinErrorReason",
    "VinStr",
    "check_digit_required",
    "compute_check_digit",
    "is_short_vin",
    "is_valid_vin",
    "short_vin",
    "validate_vin",
]

VIN_LENGTH = 17
SHORT_VIN_LENGTH = 7
CHECK_DIGIT_POSITION = 9  # 1-based, as printed in the standards
FORBIDDEN_LETTERS = frozenset("IOQ")
VIN_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
# The form of what a person may type, for schemas: VIN letters in either case (they are
# upper-cased). The check digit and the market rules are beyond a pattern: `validate_vin`.
_TYPED_CHARACTER = "[" + "".join(sorted(VIN_ALPHABET | {c.lower() for c in VIN_ALPHABET})) + "]"
VIN_PATTERN = f"^{_TYPED_CHARACTER}{{{VIN_LENGTH}}}$"
SHORT_VIN_PATTERN = f"^{_TYPED_CHARACTER}{{{SHORT_VIN_LENGTH}}}$"

# First character of the WMI of regions where the check digit is mandatory
# (North America: United States 1, 4, 5; Canada 2; Mexico 3).
_CHECK_DIGIT_MANDATORY_REGIONS = frozenset("12345")

_TRANSLITERATION: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "A": 1,
    "B": 2,
    "C": 3,
    "D": 4,
    "E": 5,
    "F": 6,
    "G": 7,
    "H": 8,
    "J": 1,
    "K": 2,
    "L": 3,
    "M": 4,
    "N": 5,
    "P": 7,
    "R": 9,
    "S": 2,
    "T": 3,
    "U": 4,
    "V": 5,
    "W": 6,
    "X": 7,
    "Y": 8,
    "Z": 9,
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


class VinErrorReason(StrEnum):
    """Stable machine-readable codes for :class:`InvalidVin`."""

    LENGTH = "length"
    FORBIDDEN_LETTER = "forbidden_letter"
    INVALID_CHARACTER = "invalid_character"
    CHECK_DIGIT = "check_digit"


class InvalidVin(ValueError):
    """A text is not a valid VIN.

    ``reason`` is a stable code (:class:`VinErrorReason`), ``position`` the 1-based
    position of the offending character when there is one, and ``str(exc)`` a
    human-readable message naming what is wrong.
    """

    def __init__(self, reason: VinErrorReason, message: str, *, position: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.position = position


def _normalise(text: str) -> str:
    """Strip surrounding white space and upper-case ASCII letters only.

    Non-ASCII characters are kept as they are (``"ß".upper()`` would become two
    characters and shift every position after it).
    """
    return "".join(c.upper() if c.isascii() else c for c in text.strip())


def _check_characters(vin: str) -> None:
    for index, char in enumerate(vin, start=1):
        if char in VIN_ALPHABET:
            continue
        if char in FORBIDDEN_LETTERS:
            raise InvalidVin(
                VinErrorReason.FORBIDDEN_LETTER,
                f"VIN contains the letter {char!r} at position {index}; "
                "the letters I, O and Q are never used in a VIN",
                position=index,
            )
        raise InvalidVin(
            VinErrorReason.INVALID_CHARACTER,
            f"VIN contains the invalid character {char!r} at position {index}; "
            "only digits and the letters A-Z without I, O and Q are allowed",
            position=index,
        )


def _check_length(vin: str) -> None:
    if len(vin) != VIN_LENGTH:
        raise InvalidVin(
            VinErrorReason.LENGTH,
            f"VIN must have {VIN_LENGTH} characters, got {len(vin)}",
        )


def _check_digit_of(vin: str) -> str:
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def compute_check_digit(vin: str) -> str:
    """Return the check digit (``"0"``-``"9"`` or ``"X"``) that belongs at position 9.

    The character currently at position 9 is ignored (its weight is 0), so this
    works on a VIN whose check digit is still a placeholder. Raises
    :class:`InvalidVin` when the text is not 17 valid VIN characters.
    """
    normalised = _normalise(vin)
    _check_length(normalised)
    _check_characters(normalised)
    return _check_digit_of(normalised)


def check_digit_required(vin: str) -> bool:
    """Whether the market of this VIN makes the check digit mandatory (North America)."""
    normalised = _normalise(vin)
    return bool(normalised) and normalised[0] in _CHECK_DIGIT_MANDATORY_REGIONS


def validate_vin(text: str, *, require_check_digit: bool = False) -> str:
    """Validate a VIN and return it normalised (stripped, upper-case).

    Checks, in this order: the length (17), forbidden letters I/O/Q, other
    invalid characters, and the check digit at position 9 when the WMI is
    North-American or ``require_check_digit`` is set. Raises :class:`InvalidVin`.
    """
    vin = _normalise(text)
    _check_length(vin)
    _check_characters(vin)
    if require_check_digit or check_digit_required(vin):
        expected = _check_digit_of(vin)
        actual = vin[CHECK_DIGIT_POSITION - 1]
        if actual != expected:
            raise InvalidVin(
                VinErrorReason.CHECK_DIGIT,
                f"VIN check digit at position {CHECK_DIGIT_POSITION} is {actual!r}, "
                f"expected {expected!r}",
                position=CHECK_DIGIT_POSITION,
            )
    return vin


class InvalidVinGiven(DomainError):
    code = "invalid-vin"
    title = "The VIN is not valid"


def parse_vin(text: str, field: str = "vin") -> str:
    """The VIN a person typed, normalised; or a refusal (`invalid-vin`) that names the field and
    what is wrong (reason, position)."""
    try:
        return validate_vin(text)
    except InvalidVin as error:
        raise InvalidVinGiven(
            error.message, field=field, reason=str(error.reason), position=error.position
        ) from None


def is_valid_vin(text: str, *, require_check_digit: bool = False) -> bool:
    """``True`` when :func:`validate_vin` accepts the text."""
    try:
        validate_vin(text, require_check_digit=require_check_digit)
    except InvalidVin:
        return False
    return True


def short_vin(vin: str) -> str:
    """Return BMW's short VIN: the last seven characters of a valid VIN.

    The VIN is validated first (:func:`validate_vin` rules); raises :class:`InvalidVin`.
    """
    return validate_vin(vin)[-SHORT_VIN_LENGTH:]


def is_short_vin(text: str) -> bool:
    """Whether the text (stripped, case-insensitive) has the form of a short VIN.

    A short VIN is seven characters from the VIN alphabet (no I, O, Q).
    """
    normalised = _normalise(text)
    return len(normalised) == SHORT_VIN_LENGTH and all(c in VIN_ALPHABET for c in normalised)


VinStr = Annotated[str, AfterValidator(validate_vin)]
"""A pydantic field type: a VIN validated and normalised by :func:`validate_vin`."""
