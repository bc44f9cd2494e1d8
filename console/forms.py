"""Form errors: each shown next to its field and in the summary at the top of the page, in the
page's language, while the form keeps what the user typed.

A page catches the `DomainError` a repository or workflow call raised and hands it to
`FormErrors.add_domain_error`: the error's stable `code` picks the translated message (the
domain's own `detail` is English), and its `field` picks where it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from console.i18n import N_, Translator
from domain.errors import DomainError

# The texts of the domain errors a console form can meet, by their stable code.
DOMAIN_ERROR_MESSAGES: dict[str, str] = {
    "remote-key-read-no-right": N_(
        "You have no right to request a remote key read for this vehicle."
    ),
    "remote-key-read-not-capable": N_("This vehicle cannot be read remotely."),
    "remote-key-read-no-contract": N_("This vehicle has no active ConnectedDrive contract."),
    "remote-key-read-not-open": N_("The request no longer waits for the car."),
    "invalid-appointment": N_("The appointment must lie within the next year, not in the past."),
    "teleservice-ticket-step-not-allowed": N_("The ticket is not in a state for this step."),
    "invalid-teleservice-ticket-step": N_(
        "Give a reason (at most 200 characters) to close the ticket."
    ),
    "invalid-credentials": N_("The email address, password or code is wrong."),
    "totp-required": N_("Enter the code from your authenticator app."),
    "totp-code-used": N_("This code was used already. Wait for the next code from the app."),
    "too-many-attempts": N_(
        "Too many failed sign-ins from this address. Try again after %(retry_at)s."
    ),
    "token-invalid": N_("This link is wrong, has expired or was already used."),
    "weak-password": N_(
        "The password needs at least 12 characters and must not be your email address."
    ),
    "insufficient-credit": N_(
        "Not enough credit: this costs %(price)s and the balance is %(balance)s."
    ),
    "payment-declined": N_("The payment was declined. Nothing was charged."),
    "voucher-unknown": N_("There is no voucher with this code."),
    "voucher-used": N_("This voucher was already redeemed."),
    "invalid-amount": N_("This amount is not allowed."),
    "idempotency-key-reused": N_("This form was already sent with other values. Reload the page."),
    "ticket-not-issued": N_("The ticket could not be issued. The credit was returned."),
    "invalid-voucher-code": N_("This is not a voucher code."),
    "verification-code-wrong": N_("The verification code is wrong."),
    "verification-code-expired": N_("The code has expired. Ask for a new one."),
    "verification-code-attempts-exhausted": N_("Too many wrong codes. Ask for a new one."),
    "verification-resend-limit": N_("No more codes can be sent for this application."),
    "registration-already-open": N_(
        "An application with this VAT ID or email address is already open."
    ),
    "registration-wrong-state": N_("This application takes no more steps."),
    "access-expired": N_("Access to this application ended on %(ended_at)s."),
    "no-access": N_("The workshop has no access to this application. Buy time first."),
    "not-found": N_("Not found."),
    "conflict": N_("This conflicts with the current state. Reload the page."),
    "forbidden": N_("You may not do this."),
    # The service booklet (console/routes/service_booklet.py).
    "vehicle-not-found": N_("No vehicle with this VIN is known."),
    "station-not-found": N_("Choose one of your workshop's stations."),
    # The stations page (console/routes/stations.py).
    "station-id-taken": N_("A workshop already holds a station with this id."),
    "station-never-seen": N_(
        "No worker of this station has connected yet. Check the id, or confirm that its worker "
        "has not run yet."
    ),
    "station-offline": N_(
        "The station is offline: its PC does not connect to the portal. Start it and try again."
    ),
    # Raised only while Temporal, just restarted, does not know a station's worker yet.
    "workflow-unavailable": N_(
        "The portal is reconnecting to the station. Try again in a few seconds."
    ),
    "station-unavailable": N_(
        "The station does not answer. Check that its PC is on and connected, then try again."
    ),
    "station-failed": N_(
        "The station failed to read the key. Try again; if it fails again, restart the "
        "station's PC or check its KeyReader."
    ),
    "key-read-failed": N_(
        "The key could not be read. Check that a key lies in the KeyReader and try again."
    ),
    "key-data-corrupt": N_(
        "The data on the key cannot be interpreted, so nothing was stored. Read the key again; "
        "if this persists, the key needs to be checked."
    ),
    "consent-required": N_("Tick the consent for data storage to go on."),
    "consent-text-outdated": N_("The consent text has changed. Read it again and confirm it."),
    "mileage-below-last-known": N_(
        "The mileage is below the last known mileage of %(last_known_mileage_km)s km. Tick the "
        "odometer exchange if the instrument cluster was replaced."
    ),
    "mileage-implausible": N_("Enter a mileage from 0 to %(max_mileage_km)s km."),
    "service-date-invalid": N_(
        "The service date cannot lie in the future or before the vehicle was built."
    ),
    "remark-too-long": N_(
        "The remark has %(length)s characters; at most %(max_length)s are allowed."
    ),
    "service-items-invalid": N_(
        "Tick the services that were performed. A maintenance entry needs at least one; a "
        "repair entry without any describes the repair in its remark."
    ),
    "service-entry-not-deletable": N_(
        "This entry can no longer be deleted: only on the day it was made, when its service "
        "date is that day, and only by the workshop that made it."
    ),
    "service-entry-wrong-step": N_(
        "This step is done already or is not the next one. The page shows where the entry "
        "stands now."
    ),
    "service-entry-closed": N_("This entry is finished and takes no more steps."),
    "maintenance-log-not-printable": N_(
        "The maintenance log can be printed only right after the entry was made, until its "
        "window is closed."
    ),
    "service-entry-without-station": N_(
        "The entry was opened without a station, so it cannot be written into the vehicle here."
    ),
}
# Pydantic's checks of a form's model, by error type (its own messages are English).
VALIDATION_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This is too short."),
    "string_too_long": N_("This is too long."),
    "string_pattern_mismatch": N_("This value is not valid."),
    "value_error": N_("This value is not valid."),
    "int_parsing": N_("Enter a whole number."),
    "greater_than": N_("Enter a larger number."),
}
GENERIC_ERROR = N_("The request was refused: %(reason)s")
MONEY_FACTS = {"price", "balance"}  # euro cents
MOMENT_FACTS = {"retry_at", "ended_at"}  # ISO 8601


def _shown(translate: Translator, key: str, value: object) -> object:
    """A fact of a domain error as the page shows it: money and moments in its language."""
    if key in MONEY_FACTS and isinstance(value, int):
        return translate.money(value)
    if key in MOMENT_FACTS and isinstance(value, str):
        try:
            return translate.datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def domain_error_message(translate: Translator, error: DomainError) -> str:
    """The error in the page's language; an unlisted code shows the domain's own detail."""
    message = DOMAIN_ERROR_MESSAGES.get(error.code)
    if message is None:
        return translate._(GENERIC_ERROR, reason=error.detail)
    values = {key: _shown(translate, key, value) for key, value in error.context.items()}
    try:
        return translate._(message, **values) if "%(" in message else translate._(message)
    except (KeyError, TypeError, ValueError):
        return translate._(GENERIC_ERROR, reason=error.detail)


@dataclass
class FormErrors:
    """A form's errors: `fields` maps a field's name to its message; `general` has the others."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, field_name: str | None, message: str) -> None:
        if field_name is None:
            self.general.append(message)
        else:
            self.fields.setdefault(field_name, message)

    def add_domain_error(
        self,
        translate: Translator,
        error: DomainError,
        *,
        fields: dict[str, str] | None = None,
        default_field: str | None = None,
        message: str | None = None,
    ) -> None:
        """Show `error` at its field; `fields` maps the domain's field names to this form's."""
        domain_field = error.field or default_field
        if domain_field is not None and fields is not None:
            domain_field = fields.get(domain_field, domain_field)
        self.add(domain_field, message or domain_error_message(translate, error))

    def add_validation_error(
        self, translate: Translator, error: ValidationError, *, fields: dict[str, str] | None = None
    ) -> None:
        """Each failed check of a form's pydantic model, at the field it names."""
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or None
            if name is not None and fields is not None:
                name = fields.get(name, name)
            text = VALIDATION_MESSAGES.get(problem["type"], VALIDATION_MESSAGES["value_error"])
            self.add(name, translate._(text))
