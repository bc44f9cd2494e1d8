"""The service booklet's texts that are not plain template texts: refusals with facts the
error does not carry, and the domain's texts the pages show (the CBS items' labels and the
consent text).

The refusals' texts themselves are in `console.forms.DOMAIN_ERROR_MESSAGES`, by the error's
stable `code`; an invalid VIN is told by its `reason`.
"""

from __future__ import annotations

from collections.abc import Mapping

from console.forms import DOMAIN_ERROR_MESSAGES, domain_error_message
from console.i18n import N_, Translator
from domain.errors import DomainError
from domain.service_history import CBS_LABELS, CONSENT_TEXT, MAX_PLAUSIBLE_MILEAGE_KM

INVALID_VIN_MESSAGES: Mapping[str, str] = {
    "length": N_("A VIN has 17 characters; a short VIN is its last 7."),
    "forbidden_letter": N_("The letters I, O and Q never occur in a VIN (character %(position)s)."),
    "invalid_character": N_(
        "A VIN has only digits and the letters A to Z (character %(position)s)."
    ),
    "check_digit": N_("The check digit (character 9) does not match the rest of the VIN."),
}
SHORT_VIN_MESSAGE = N_(
    "A short VIN is the last 7 characters of the VIN: digits and letters without I, O and Q."
)

# Texts that come from the domain as data (the CBS items' labels, the consent text), shown by
# the pages as `translate._(text)`. They are written once, in the domain; the catalogues take
# them from here (`console.catalogue.used_messages`), so each needs its translation like any
# text of a page.
SHOWN_DOMAIN_TEXTS: tuple[str, ...] = (CONSENT_TEXT, *CBS_LABELS.values())

_NUMBER_FACTS = ("last_known_mileage_km", "length", "max_length")


def booklet_error_message(translate: Translator, error: DomainError, **facts: object) -> str:
    """`error` in the page's language; `facts` fill in what the error does not carry itself
    (the typed remark's length). Distances and lengths are numbers of the page's language."""
    if error.code == "invalid-vin":
        reason = error.context.get("reason")
        if reason is None:  # a short VIN carries no reason: it has one form only
            return translate._(SHORT_VIN_MESSAGE)
        message = INVALID_VIN_MESSAGES.get(str(reason))
        if message is not None:
            return translate._(message, position=error.context.get("position") or "?")
    message = DOMAIN_ERROR_MESSAGES.get(error.code)
    if message is None or "%(" not in message:
        return domain_error_message(translate, error)
    values: dict[str, object] = {
        "max_mileage_km": MAX_PLAUSIBLE_MILEAGE_KM,
        **error.context,
        **facts,
    }
    shown = {
        name: translate.number(value)
        if name in (*_NUMBER_FACTS, "max_mileage_km") and isinstance(value, int)
        else value
        for name, value in values.items()
    }
    try:
        return translate._(message, **shown)
    except (KeyError, TypeError, ValueError):
        return domain_error_message(translate, error)
