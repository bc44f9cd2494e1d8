"""The service booklet's texts that are not plain template texts: refusals with facts the
error does not carry, the CBS items' labels and the consent text.

The refusals' texts themselves are in `console.forms.DOMAIN_ERROR_MESSAGES`, by the error's
stable `code`; an invalid VIN is told by its `reason`.
"""

from __future__ import annotations

from collections.abc import Mapping

from console.forms import DOMAIN_ERROR_MESSAGES, domain_error_message
from console.i18n import N_, Translator
from domain.errors import DomainError
from domain.service_history import MAX_PLAUSIBLE_MILEAGE_KM

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

# Texts that come from the domain as data, marked here so the catalogues keep them; a page
# shows `translate._(text)`. tests/console/test_console_service_booklet_texts.py checks that
# they are the domain's texts word for word.
CBS_LABEL_MESSAGES = (
    N_("Engine oil"),
    N_("Front brake pads"),
    N_("Rear brake pads"),
    N_("Brake fluid"),
    N_("Vehicle check"),
    N_("Microfilter"),
    N_("Spark plugs"),
    N_("Statutory vehicle inspection"),
    N_("Exhaust emissions inspection"),
    N_("Coolant"),
    N_("Diesel particulate filter"),
    N_("High-voltage battery check"),
)
CONSENT_TEXT_MESSAGE = N_(
    "It is hereby confirmed that the owner or driver of this vehicle was informed by the "
    "registered service company that the data of this proof of service is transferred to the "
    "manufacturer and, where the vehicle supports it, to the vehicle, and is processed and "
    "used for a tamper-proof and transparent service history. The data is passed on to the "
    "manufacturer's group companies and dealer organisation for these purposes. By consenting "
    "to the data storage the registered service company expressly confirms that it has "
    "received the owner's or driver's consent to this data processing."
)

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
