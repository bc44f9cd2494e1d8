import pytest
from pydantic import BaseModel, ValidationError

from domain.vin import (
    InvalidVin,
    VinErrorReason,
    VinStr,
    check_digit_required,
    compute_check_digit,
    is_short_vin,
    is_valid_vin,
    short_vin,
    validate_vin,
)

# Well-known valid examples: the textbook North-American VIN whose check digit is X,
# the Wikipedia example, and the all-ones VIN.
KNOWN_VALID = ["1M8GDM9AXKP042788", "5GZCZ43D13S812715", "11111111111111111"]


@pytest.mark.parametrize("vin", KNOWN_VALID)
def test_known_valid_vins_pass_with_check_digit(vin: str) -> None:
    assert validate_vin(vin, require_check_digit=True) == vin
    assert compute_check_digit(vin) == vin[8]


def test_check_digit_x_for_the_textbook_example() -> None:
    assert compute_check_digit("1M8GDM9AXKP042788") == "X"


def test_check_digit_ignores_what_is_at_position_9() -> None:
    assert compute_check_digit("1M8GDM9A0KP042788") == "X"
    assert compute_check_digit("1m8gdm9a7kp042788") == "X"


def test_compute_check_digit_rejects_invalid_text() -> None:
    with pytest.raises(InvalidVin) as info:
        compute_check_digit("1M8GDM9AXKP04278")
    assert info.value.reason is VinErrorReason.LENGTH


def test_validate_normalises_case_and_surrounding_space() -> None:
    assert validate_vin("  1m8gdm9axkp042788\n") == "1M8GDM9AXKP042788"


@pytest.mark.parametrize("text", ["", "1M8GDM9AXKP04278", "1M8GDM9AXKP0427880", "WBA"])
def test_wrong_length(text: str) -> None:
    with pytest.raises(InvalidVin) as info:
        validate_vin(text)
    assert info.value.reason is VinErrorReason.LENGTH
    assert info.value.reason == "length"
    assert "17" in str(info.value)
    assert str(len(text)) in str(info.value)
    assert info.value.position is None


def test_invalid_vin_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="17 characters"):
        validate_vin("short")


@pytest.mark.parametrize("letter", ["I", "O", "Q", "i", "o", "q"])
@pytest.mark.parametrize("position", [1, 9, 17])
def test_forbidden_letters_name_letter_and_position(letter: str, position: int) -> None:
    vin = list("WBA8E5105FK731548")
    vin[position - 1] = letter
    with pytest.raises(InvalidVin) as info:
        validate_vin("".join(vin))
    error = info.value
    assert error.reason is VinErrorReason.FORBIDDEN_LETTER
    assert error.position == position
    assert f"position {position}" in str(error)
    assert repr(letter.upper()) in str(error)


@pytest.mark.parametrize("char", ["-", " ", "*", "é", "Ä", "\u0301"])
def test_other_invalid_characters(char: str) -> None:
    vin = "WBA8E51" + char + "5FK731548"
    assert len(vin) == 17
    with pytest.raises(InvalidVin) as info:
        validate_vin(vin)
    assert info.value.reason is VinErrorReason.INVALID_CHARACTER
    assert info.value.position == 8
    assert "position 8" in str(info.value)


def test_non_ascii_letter_does_not_shift_positions() -> None:
    # "ß".upper() is "SS": normalising must not change the length.
    with pytest.raises(InvalidVin) as info:
        validate_vin("WBA8E5105FK73154ß")
    assert info.value.reason is VinErrorReason.INVALID_CHARACTER
    assert info.value.position == 17


def test_length_is_checked_before_characters() -> None:
    with pytest.raises(InvalidVin) as info:
        validate_vin("WBAO")
    assert info.value.reason is VinErrorReason.LENGTH


def test_forbidden_letter_reported_at_first_offending_position() -> None:
    with pytest.raises(InvalidVin) as info:
        validate_vin("WBA-E5105FK7315O8")
    assert info.value.reason is VinErrorReason.INVALID_CHARACTER
    assert info.value.position == 4


def test_north_american_check_digit_is_mandatory() -> None:
    with pytest.raises(InvalidVin) as info:
        validate_vin("1M8GDM9A1KP042788")
    error = info.value
    assert error.reason is VinErrorReason.CHECK_DIGIT
    assert error.position == 9
    assert "'1'" in str(error)
    assert "expected 'X'" in str(error)


@pytest.mark.parametrize("first", ["1", "2", "3", "4", "5"])
def test_check_digit_required_for_north_america(first: str) -> None:
    assert check_digit_required(first + "M8GDM9AXKP042788")


@pytest.mark.parametrize("first", ["W", "S", "J", "K", "L", "V", "Z", "6", "7", "8", "9"])
def test_check_digit_optional_elsewhere(first: str) -> None:
    assert not check_digit_required(first + "BA8E5105FK731548")


def test_european_vin_with_wrong_check_digit_passes_unless_required() -> None:
    vin = "WBA8E5100FK731548"  # correct would be 5
    assert validate_vin(vin) == vin
    with pytest.raises(InvalidVin) as info:
        validate_vin(vin, require_check_digit=True)
    assert info.value.reason is VinErrorReason.CHECK_DIGIT
    assert "expected '5'" in str(info.value)


def test_is_valid_vin() -> None:
    assert is_valid_vin("WBA8E5100FK731548")
    assert not is_valid_vin("WBA8E5100FK731548", require_check_digit=True)
    assert not is_valid_vin("WBA8E5100FK73154")


def test_short_vin_is_last_seven_characters() -> None:
    assert short_vin("WBA8E5105FK731548") == "K731548"
    assert short_vin(" wba8e5105fk731548 ") == "K731548"


def test_short_vin_validates_the_full_vin() -> None:
    with pytest.raises(InvalidVin):
        short_vin("K731548")
    with pytest.raises(InvalidVin):
        short_vin("1M8GDM9A1KP042788")


@pytest.mark.parametrize("text", ["K731548", " k731548 ", "2K40716", "0000000"])
def test_is_short_vin_true(text: str) -> None:
    assert is_short_vin(text)


@pytest.mark.parametrize(
    "text", ["", "K73154", "K7315480", "O731548", "K7315-8", "WBA8E5105FK731548"]
)
def test_is_short_vin_false(text: str) -> None:
    assert not is_short_vin(text)


class _Car(BaseModel):
    vin: VinStr


def test_vin_str_field_normalises_and_rejects() -> None:
    assert _Car(vin=" 1m8gdm9axkp042788").vin == "1M8GDM9AXKP042788"
    with pytest.raises(ValidationError, match="position 4"):
        _Car(vin="WBAOE5105FK731548")
