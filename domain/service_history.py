"""The digital service booklet (KaSIO): entry states, the rules of an entry, deletion, CBS resets.

A technician opens an entry for a vehicle, records the owner's consent, enters mileage, date
and remark, ticks the condition-based-service (CBS) items performed and creates the entry. The
entry may then be written into the vehicle; the maintenance log can be printed from creation
until the flow closes. An entry can be deleted only on the day it was created, when its
service date is that same day, by the workshop that created it. Days are UTC calendar days.

This module is pure: no I/O; the only project imports are domain modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from statemachine import State, StateMachine

from domain.catalogue import add_months
from domain.errors import Conflict, DomainError, NotFound
from domain.key_data import CBS_TYPES

ABANDON_AFTER = timedelta(minutes=30)
"""An entry flow without progress for this long before creation is abandoned (nothing stored)."""

PRINT_WINDOW = timedelta(minutes=15)
"""From creation, the flow stays open this long for printing; then it closes."""

MAX_REMARK_LENGTH = 200
MAX_PLAUSIBLE_MILEAGE_KM = 2_000_000

CONSENT_TEXT_VERSION = "kasio-consent-1"
CONSENT_TEXT = (
    "It is hereby confirmed that the owner or driver of this vehicle was informed by the "
    "registered service company that the data of this proof of service is transferred to the "
    "manufacturer and, where the vehicle supports it, to the vehicle, and is processed and "
    "used for a tamper-proof and transparent service history. The data is passed on to the "
    "manufacturer's group companies and dealer organisation for these purposes. By consenting "
    "to the data storage the registered service company expressly confirms that it has "
    "received the owner's or driver's consent to this data processing."
)


class EntryKind(StrEnum):
    """Maintenance history (onderhoudshistorie) or repair history (reparatiehistorie)."""

    MAINTENANCE = "maintenance"
    REPAIR = "repair"


class EntrySource(StrEnum):
    """How the vehicle was identified when the entry was made."""

    MANUAL = "manual"  # VIN typed in the portal (KaSIO: "Handmatig")
    KEY_READ = "key_read"  # chosen from the key table after a key read


class ServiceEntryMachine(StateMachine):
    """opened → consent_recorded → details_entered → services_selected → created
    → (written_to_vehicle) → closed; abandoned from any state before created."""

    opened = State(initial=True)
    consent_recorded = State()
    details_entered = State()
    services_selected = State()
    created = State()
    written_to_vehicle = State()
    closed = State(final=True)
    abandoned = State(final=True)

    record_consent = opened.to(consent_recorded)
    enter_details = consent_recorded.to(details_entered)
    select_services = details_entered.to(services_selected)
    create_entry = services_selected.to(created)
    write_to_vehicle = created.to(written_to_vehicle)
    close_flow = created.to(closed) | written_to_vehicle.to(closed)
    abandon = (
        opened.to(abandoned)
        | consent_recorded.to(abandoned)
        | details_entered.to(abandoned)
        | services_selected.to(abandoned)
    )


ServiceEntryState = Literal[
    "opened",
    "consent_recorded",
    "details_entered",
    "services_selected",
    "created",
    "written_to_vehicle",
    "closed",
    "abandoned",
]

Step = Literal["consent", "details", "services", "create", "write-to-vehicle", "close"]

NEXT_STEPS: dict[str, tuple[Step, ...]] = {
    "opened": ("consent",),
    "consent_recorded": ("details",),
    "details_entered": ("services",),
    "services_selected": ("create",),
    "created": ("write-to-vehicle", "close"),
    "written_to_vehicle": ("close",),
    "closed": (),
    "abandoned": (),
}
PRINTABLE_STATES = frozenset({"created", "written_to_vehicle"})
OPEN_STATES = frozenset({"opened", "consent_recorded", "details_entered", "services_selected"})


# --- errors ----------------------------------------------------------------------------------


class VehicleNotFound(NotFound):
    code = "vehicle-not-found"
    title = "No vehicle with this VIN"


# The one rule for a station id, wherever one is given: the API's paths and bodies, the
# worker's --station-id, provisioning. It names a Temporal task queue (`station-<id>`) and
# shows in URLs and logs, so it is kept plain and unambiguous in any case-folding.
STATION_ID_PATTERN = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
STATION_ID_RULE = (
    "3 to 32 lowercase letters, digits and hyphens, starting with a letter and not ending "
    "with a hyphen (e.g. demo-1, bay-2)"
)


class StationIdInvalid(DomainError):
    code = "station-id-invalid"
    title = "The station id does not follow the rule"


def check_station_id(station_id: str) -> str:
    """The id when it follows `STATION_ID_PATTERN`; `station-id-invalid` otherwise."""
    if re.fullmatch(STATION_ID_PATTERN, station_id) is None:
        raise StationIdInvalid(
            f"a station id has {STATION_ID_RULE}; {station_id!r} does not", field="station_id"
        )
    return station_id


class StationNotFound(NotFound):
    code = "station-not-found"
    title = "No station with this id"


class StationIdTaken(Conflict):
    code = "station-id-taken"
    title = "The station id is already registered"


class StationNeverSeen(Conflict):
    code = "station-never-seen"
    title = "No worker of this station has been seen polling"


class ServiceEntryNotFound(NotFound):
    code = "service-entry-not-found"
    title = "No service entry with this id"


class WrongServiceEntryStep(Conflict):
    code = "service-entry-wrong-step"
    title = "This step is not the next one of the service entry"


class ServiceEntryClosed(Conflict):
    code = "service-entry-closed"
    title = "The service entry flow has ended"


class ConsentRequired(DomainError):
    code = "consent-required"
    title = "The owner's consent is required"


class ConsentTextOutdated(DomainError):
    code = "consent-text-outdated"
    title = "The consent text shown is not the current one"


class MileageBelowLastKnown(DomainError):
    code = "mileage-below-last-known"
    title = "The mileage is below the last known mileage"


class MileageImplausible(DomainError):
    code = "mileage-implausible"
    title = "The mileage is not plausible"


class ServiceDateInvalid(DomainError):
    code = "service-date-invalid"
    title = "The service date is not possible"


class RemarkTooLong(DomainError):
    code = "remark-too-long"
    title = "The remark is too long"


class ServiceItemsInvalid(DomainError):
    code = "service-items-invalid"
    title = "The service items are not valid for this vehicle"


class NotDeletable(Conflict):
    code = "service-entry-not-deletable"
    title = "The service entry can no longer be deleted"


class MaintenanceLogNotPrintable(Conflict):
    code = "maintenance-log-not-printable"
    title = "The maintenance log cannot be printed now"


class NoStationForEntry(Conflict):
    code = "service-entry-without-station"
    title = "The entry was opened without a station"


class KeyDataCorrupt(DomainError):
    code = "key-data-corrupt"
    title = "The key data cannot be interpreted"


class StationUnavailable(Conflict):
    code = "station-unavailable"
    title = "The station does not answer"


class StationOffline(Conflict):
    """No worker polls the station's queue: refused before a flow would wait for it."""

    code = "station-offline"
    title = "No station worker is running for this station"


class KeyReadFailedProblem(Conflict):
    code = "key-read-failed"
    title = "The key could not be read"


class StationFailed(DomainError):
    """The station's own work failed, not for a rule a person can act on (`key-read-failed`)
    but on its side: a fault its retries did not get past, or an answer the portal cannot
    take. The request was fine and the portal did not fail, so it is a 502: the portal asked
    the station (its upstream) and got no usable answer. Trying again may help."""

    code = "station-failed"
    title = "The station failed"
    kind = "upstream_failed"


# --- the steps' rules ------------------------------------------------------------------------

DELETION_RULE = (
    "an entry can be deleted only on the day it was created, when its service date is that "
    "same day, and only by the workshop that created it"
)
PRINT_RULE = (
    "the maintenance log can be printed only from the creation of the entry until its flow "
    "closes (15 minutes after creation, or when the technician closes it)"
)


def no_such_entry() -> ServiceEntryNotFound:
    """The answer for an unknown entry, and for another workshop's: exactly alike, so that
    existence does not leak."""
    return ServiceEntryNotFound("no service entry with this id", field="entry_id")


def ensure_entry_caller(
    entry_workshop_id: str, caller_workshop_id: str | None, administrator: bool
) -> None:
    """The one scoping rule of an entry: its own workshop, or an administrator, may see it and
    take its steps; anybody else is told it does not exist."""
    if administrator or (
        caller_workshop_id is not None and caller_workshop_id == entry_workshop_id
    ):
        return
    raise no_such_entry()


def ensure_step(state: str, step: Step) -> None:
    """Refuse a step that is not one of the next steps of `state` (409 naming the expected)."""
    expected = NEXT_STEPS.get(state, ())
    if step in expected:
        return
    if not expected:
        raise ServiceEntryClosed(f"the service entry flow is {state}", state=state)
    raise WrongServiceEntryStep(
        f"the next step is {' or '.join(expected)}, not {step}",
        state=state,
        expected_step=expected[0],
        expected_steps=list(expected),
    )


def check_consent(confirmed: bool, consent_text_version: str) -> None:
    if not confirmed:
        raise ConsentRequired(
            "tick the consent for data storage: no consent, no entry", field="confirmed"
        )
    if consent_text_version != CONSENT_TEXT_VERSION:
        raise ConsentTextOutdated(
            f"the current consent text is version {CONSENT_TEXT_VERSION}; show it and confirm "
            "again",
            field="consent_text_version",
            current_version=CONSENT_TEXT_VERSION,
        )


def check_mileage(mileage_km: int, last_known_km: int, odometer_exchanged: bool) -> None:
    """Not negative, not absurd, and not below the last known mileage unless the odometer was
    exchanged (a documented instrument cluster exchange)."""
    if mileage_km < 0 or mileage_km > MAX_PLAUSIBLE_MILEAGE_KM:
        raise MileageImplausible(
            f"a mileage of {mileage_km} km is not plausible (0 to {MAX_PLAUSIBLE_MILEAGE_KM} km)",
            field="mileage_km",
        )
    if mileage_km < last_known_km and not odometer_exchanged:
        raise MileageBelowLastKnown(
            f"{mileage_km} km is below the last known mileage of {last_known_km} km; mark a "
            "documented odometer exchange if the instrument cluster was replaced",
            field="mileage_km",
            last_known_mileage_km=last_known_km,
        )


def check_service_date(service_date: date, today: date, production_date: date) -> None:
    if service_date > today:
        raise ServiceDateInvalid(
            f"the service date {service_date} is in the future (today is {today})",
            field="service_date",
        )
    if service_date < production_date:
        raise ServiceDateInvalid(
            f"the service date {service_date} is before the vehicle's production on "
            f"{production_date}",
            field="service_date",
        )


def check_remark(remark: str) -> None:
    if len(remark) > MAX_REMARK_LENGTH:
        raise RemarkTooLong(
            f"the remark has {len(remark)} characters; at most {MAX_REMARK_LENGTH} are allowed",
            field="remark",
            max_length=MAX_REMARK_LENGTH,
        )


def check_service_items(
    selected: Sequence[str], supported: Iterable[str], kind: EntryKind, remark: str
) -> None:
    """Items from those the vehicle supports, each once; a maintenance entry needs at least
    one, a repair entry may have none but then describes the repair in its remark."""
    supported_set = set(supported)
    unknown = [item for item in selected if item not in supported_set]
    if unknown:
        raise ServiceItemsInvalid(
            f"the vehicle does not support {', '.join(unknown)}",
            field="cbs_items",
            supported=sorted(supported_set),
        )
    if len(set(selected)) != len(selected):
        raise ServiceItemsInvalid("each service item is ticked once", field="cbs_items")
    if kind == EntryKind.MAINTENANCE and not selected:
        raise ServiceItemsInvalid(
            "a maintenance entry needs at least one performed item", field="cbs_items"
        )
    if kind == EntryKind.REPAIR and not selected and not remark.strip():
        raise ServiceItemsInvalid(
            "a repair entry without service items describes the repair in its remark",
            field="cbs_items",
        )


def is_deletable(
    created_on: date, service_date: date, today: date, owner_workshop: str, workshop: str
) -> bool:
    return owner_workshop == workshop and created_on == today and service_date == today


def check_deletable(
    created_on: date, service_date: date, today: date, owner_workshop: str, workshop: str
) -> None:
    if not is_deletable(created_on, service_date, today, owner_workshop, workshop):
        raise NotDeletable(
            f"{DELETION_RULE} (created {created_on}, service date {service_date}, today {today})",
            rule=DELETION_RULE,
        )


# --- resetting CBS items after a service -----------------------------------------------------

CbsState = Literal["ok", "due_soon", "overdue", "not_applicable"]

# After the service, each item is due again after (months, km); None: not counted that way.
CBS_RESET_INTERVALS: dict[str, tuple[int | None, int | None]] = {
    "engine_oil": (24, 30_000),
    "front_brakes": (None, 50_000),
    "rear_brakes": (None, 80_000),
    "brake_fluid": (24, None),
    "vehicle_check": (24, 30_000),
    "microfilter": (24, None),
    "spark_plugs": (72, 100_000),
    "statutory_inspection": (24, None),
    "emissions_inspection": (24, None),
    "coolant": (48, None),
    "diesel_particulate_filter": (None, 200_000),
    "high_voltage_battery_check": (12, None),
}
CBS_CODES: dict[str, int] = {slug: code for code, (slug, _label) in CBS_TYPES.items()}
CBS_LABELS: dict[str, str] = {slug: label for _code, (slug, label) in CBS_TYPES.items()}


class VehicleServiceItem(BaseModel):
    """One CBS item as the vehicle keeps it (code as in the key data, CBS_TYPES)."""

    model_config = ConfigDict(frozen=True)

    code: int
    status: CbsState
    due_date: date | None = None
    remaining_km: int | None = None

    @property
    def cbs_id(self) -> str:
        known = CBS_TYPES.get(self.code)
        return known[0] if known else f"cbs_0x{self.code:02x}"


def reset_service_items(
    current: Sequence[VehicleServiceItem], performed: Sequence[str], service_date: date
) -> list[VehicleServiceItem]:
    """The vehicle's items after the service: the performed ones reset (status ok, due again
    after their interval from the service date), the others unchanged, sorted by code."""
    by_code = {item.code: item for item in current}
    for cbs_id in performed:
        code = CBS_CODES[cbs_id]
        months, km = CBS_RESET_INTERVALS.get(cbs_id, (24, None))
        by_code[code] = VehicleServiceItem(
            code=code,
            status="ok",
            due_date=add_months(service_date, months) if months is not None else None,
            remaining_km=km,
        )
    return [by_code[code] for code in sorted(by_code)]
