"""The service booklet (KaSIO) pages: find a vehicle, the vehicle page, a new maintenance or
repair entry step by step, its maintenance log, and deleting an entry.

Every page needs the service booklet covered (the JSON API's `ServiceHistoryAccess` guard);
without coverage the page says so, with the end time, and links to buying time. What each page
shows and does comes from `console.service_booklet`, which calls the JSON API's own code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from babel.dates import format_date
from babel.numbers import NumberFormatError, parse_number
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError

from console import service_booklet as booklet_model
from console.confirmation import confirmation_page, confirmed
from console.deps import CsrfChecked, Translate, WorkshopMember
from console.forms import FormErrors
from console.i18n import Translator
from console.paths import PREFIX
from console.rendering import render, translator
from console.service_booklet import Booklet, HistorySort
from console.service_booklet_texts import booklet_error_message
from contracts.errors import domain_error_from
from contracts.service_history import ServiceEntryStatus
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import DomainError, NotFound
from domain.service_history import (
    CBS_LABELS,
    MAX_REMARK_LENGTH,
    EntryKind,
    ServiceEntryNotFound,
)
from web.deps import ResourcesDep

BOOKLET = PREFIX + "/kasio"
BUY_TIME = PREFIX + "/credit"


def _refused_access(error: BaseException) -> DomainError | None:
    """The entitlement refusal in `error`: raised by the guard, or by a workflow that checked
    the coverage again (it can end while an entry is being made)."""
    if isinstance(error, (NoAccess, AccessExpired)):
        return error
    if isinstance(error, (WorkflowUpdateFailedError, WorkflowFailureError)):
        carried = domain_error_from(error)
        if carried is not None and carried.code in (NoAccess.code, AccessExpired.code):
            return carried
    return None


class BookletRoute(APIRoute):
    """A booklet page route: a workshop without coverage gets the page that says so."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def covered_or_told(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                refusal = _refused_access(error)
                if refusal is None:
                    raise
                return _not_covered_page(request, refusal)

        return covered_or_told


router = APIRouter(prefix=BOOKLET, include_in_schema=False, route_class=BookletRoute)


def _not_covered_page(request: Request, refusal: DomainError) -> Response:
    ended_at = refusal.context.get("ended_at")
    return render(
        request,
        "kasio/not_covered.html",
        {
            "ended_at": datetime.fromisoformat(ended_at) if isinstance(ended_at, str) else None,
            "buy_time": BUY_TIME,
        },
        status_code=403,
    )


async def _booklet(request: Request, person: WorkshopMember, resources: ResourcesDep) -> Booklet:
    return await booklet_model.open_booklet(request, person.user, resources)


BookletDep = Annotated[Booklet, Depends(_booklet)]


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    errors: FormErrors | None = None,
    status_code: int | None = None,
) -> Response:
    """A booklet page: its errors (shown next to their fields and in the summary) and the
    helpers its templates share."""
    translate = translator(request)
    errors = errors or FormErrors()
    return render(
        request,
        template,
        {
            "errors": errors,
            "booklet": BOOKLET,
            "day": lambda value: _day(translate, value),
            "cbs_label": lambda cbs_id: translate._(CBS_LABELS.get(cbs_id) or cbs_id),
            **context,
        },
        status_code=status_code or (422 if errors else 200),
    )


def _day(translate: Translator, value: date | None) -> str:
    """A calendar day (a service date, a production date) in the page's language."""
    return format_date(value, "medium", locale=translate.language) if value else ""


def _station_options(
    translate: Translator, stations: list[Any], *, none_label: str | None = None
) -> list[tuple[str, str]]:
    """The workshop's stations as a select's options, each saying whether its worker is online."""
    state = {
        True: translate._("online"),
        False: translate._("offline"),
        None: translate._("status unknown"),
    }
    options = [("", none_label)] if none_label is not None else []
    return options + [
        (s.station_id, f"{s.name} ({s.station_id}), {state[s.online]}") for s in stations
    ]


# --- find a vehicle ----------------------------------------------------------------------------


async def _find_page(
    request: Request,
    booklet: Booklet,
    *,
    query: str = "",
    found: list[Any] | None = None,
    read_id: int | None = None,
    station_id: str = "",
    errors: FormErrors | None = None,
    status_code: int | None = None,
) -> Response:
    page = await booklet_model.find_page(booklet)
    online = [s.station_id for s in page.stations if s.online is not False]
    return _page(
        request,
        "kasio/find.html",
        {
            "page": page,
            "query": query,
            "found": found,
            "read_row": next((r for r in page.key_rows if r.key_record_id == read_id), None),
            "station_id": station_id or (online[0] if online else ""),
            "station_options": _station_options(translator(request), page.stations),
            "coverage": booklet.coverage,
        },
        errors=errors,
        status_code=status_code,
    )


@router.get("/")
async def find_vehicle(
    request: Request,
    booklet: BookletDep,
    translate: Translate,
    q: str | None = None,
    read: int | None = None,
) -> Response:
    """Find a vehicle by VIN or short VIN, or choose one from the key table."""
    if q is None:
        return await _find_page(request, booklet, read_id=read)
    errors = FormErrors()
    found: list[Any] | None = None
    if not q.strip():
        errors.add("q", translate._("Enter a VIN or the last 7 characters of one."))
    else:
        try:
            found = await booklet_model.find_vehicles(booklet, q)
        except DomainError as error:
            errors.add("q", booklet_error_message(translate, error))
        else:
            if len(found) == 1:
                return RedirectResponse(f"{BOOKLET}/vehicles/{found[0].vin}", status_code=303)
            if not found:
                errors.add("q", translate._("No vehicle's VIN ends in these characters."))
    return await _find_page(request, booklet, query=q, found=found, errors=errors)


@router.post("/key-reads")
async def refresh_key_table(
    request: Request,
    _: CsrfChecked,
    booklet: BookletDep,
    translate: Translate,
    station_id: Annotated[str, Form()] = "",
) -> Response:
    """ "Refresh the key table": read the key lying in the chosen station's KeyReader."""
    errors = FormErrors()
    if not station_id:
        errors.add("station_id", translate._("Choose the station whose KeyReader holds the key."))
    else:
        try:
            row = await booklet_model.read_key(booklet, station_id)
        except DomainError as error:
            errors.add("station_id", booklet_error_message(translate, error))
        except (WorkflowFailureError, WorkflowUpdateFailedError) as failure:
            carried = domain_error_from(failure)
            if carried is None or _refused_access(failure) is not None:
                raise
            errors.add("station_id", booklet_error_message(translate, carried))
        else:
            return RedirectResponse(f"{BOOKLET}/?read={row.key_record_id}", status_code=303)
    return await _find_page(request, booklet, station_id=station_id, errors=errors)


# --- the vehicle page --------------------------------------------------------------------------


async def _vehicle_page(
    request: Request,
    booklet: Booklet,
    vin: str,
    *,
    sort: HistorySort,
    key: int | None = None,
    notice: str | None = None,
    errors: FormErrors | None = None,
    status_code: int | None = None,
) -> Response:
    try:
        page = await booklet_model.vehicle_page(booklet, vin, sort)
    except DomainError as error:
        if error.code == "invalid-vin":  # a VIN no vehicle can have: nothing is there
            raise NotFound("no vehicle with this VIN", field="vin") from error
        raise
    chosen_key = next((k for k in page.keys if k.key_record_id == key), None)
    return _page(
        request,
        "kasio/vehicle.html",
        {
            "page": page,
            "v": page.vehicle,
            "chosen_key": chosen_key,
            "entry_station": (chosen_key.station_id if chosen_key else None)
            or (page.keys[0].station_id if page.keys else None)
            or "",
            "station_options": _station_options(
                translator(request),
                page.stations,
                none_label=translator(request)._("No station (not written into the vehicle)"),
            ),
            "notice": notice,
        },
        errors=errors,
        status_code=status_code,
    )


@router.get("/vehicles/{vin}")
async def vehicle(
    request: Request,
    vin: str,
    booklet: BookletDep,
    sort: str | None = None,
    order: str | None = None,
    key: int | None = None,
    done: str | None = None,
) -> Response:
    """The vehicle: status, key data, vehicle data, teleservices, special options, technical
    actions and its histories (sortable by date, mileage or type)."""
    return await _vehicle_page(
        request, booklet, vin, sort=HistorySort.parse(sort, order), key=key, notice=done
    )


@router.post("/vehicles/{vin}/entries")
async def new_entry(
    request: Request,
    vin: str,
    _: CsrfChecked,
    booklet: BookletDep,
    translate: Translate,
    kind: Annotated[str, Form()] = EntryKind.MAINTENANCE.value,
    station_id: Annotated[str, Form()] = "",
    key_read_id: Annotated[str, Form()] = "",
) -> Response:
    """Open a new maintenance or repair entry (its ServiceEntryWorkflow starts)."""
    errors = FormErrors()
    try:
        status = await booklet_model.open_entry(
            booklet,
            vin,
            EntryKind(kind) if kind in {k.value for k in EntryKind} else EntryKind.MAINTENANCE,
            station_id or None,
            int(key_read_id) if key_read_id.isdigit() else None,
        )
    except DomainError as error:
        if error.code in ("invalid-vin", "vehicle-not-found"):
            raise
        errors.add("station_id", booklet_error_message(translate, error))
        return await _vehicle_page(request, booklet, vin, sort=HistorySort(), errors=errors)
    return RedirectResponse(f"{BOOKLET}/entries/{status.entry_id}", status_code=303)


@router.post("/entries/{entry_id}/delete")
async def delete_entry(
    request: Request,
    entry_id: str,
    _: CsrfChecked,
    booklet: BookletDep,
    translate: Translate,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Delete an entry (the same-day rule), only with `confirm=yes` (else the page asks
    first); a refusal shows next to the entry's row."""
    if not confirmed(confirm):
        stored = await booklet.service_history.find_entry(entry_id)
        if stored is None or stored.workshop_id != booklet.user.workshop_id:
            raise ServiceEntryNotFound("no service entry with this id", field="entry_id")
        return confirmation_page(
            request,
            heading=translate._("Delete this entry?"),
            warning=translate._("The entry is removed from the vehicle's histories for good."),
            action=f"{BOOKLET}/entries/{quote(entry_id)}/delete",
            confirm_label=translate._("Delete the entry"),
            cancel=f"{BOOKLET}/vehicles/{stored.vin}",
        )
    try:
        vin = await booklet_model.delete_entry(booklet, entry_id)
    except (WorkflowFailureError, DomainError) as failure:
        carried = failure if isinstance(failure, DomainError) else domain_error_from(failure)
        stored = await booklet.service_history.find_entry(entry_id)
        if carried is None or isinstance(carried, NotFound) or stored is None:
            raise
        errors = FormErrors()
        errors.add(f"entry-{entry_id}", booklet_error_message(translate, carried))
        return await _vehicle_page(
            request, booklet, stored.vin, sort=HistorySort(), errors=errors, status_code=409
        )
    return RedirectResponse(f"{BOOKLET}/vehicles/{vin}?done=deleted", status_code=303)


# --- a new entry, step by step -----------------------------------------------------------------


async def _entry_page(
    request: Request,
    booklet: Booklet,
    status: ServiceEntryStatus,
    *,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    translate = translator(request)
    view = await booklet_model.vehicle_page(booklet, status.vin, HistorySort())
    vehicle_row = view.vehicle
    typed = form or {}
    details = status.details
    return _page(
        request,
        "kasio/entry.html",
        {
            "s": status,
            "v": vehicle_row,
            "consent_text": translate._(status.consent_text),
            "mileage": typed.get(
                "mileage_km",
                translate.number(
                    details.mileage_km if details else vehicle_row.last_known_mileage_km
                ),
            ),
            "service_date": typed.get(
                "service_date",
                (details.service_date if details else datetime.now(UTC).date()).isoformat(),
            ),
            "remark": typed.get("remark", details.remark if details else ""),
            "odometer_exchanged": typed.get(
                "odometer_exchanged", details.odometer_exchanged if details else False
            ),
            "ticked": typed.get("cbs_items", status.cbs_items),
            "write_into_vehicle": typed.get("write_into_vehicle", status.station_id is not None),
            "max_remark": MAX_REMARK_LENGTH,
        },
        errors=errors,
    )


@router.get("/entries/{entry_id}")
async def entry(request: Request, entry_id: str, booklet: BookletDep) -> Response:
    """The entry where it stands: the next step's form, or what was made and can be printed."""
    status = await booklet_model.entry_status(booklet, entry_id)
    return await _entry_page(request, booklet, status)


async def _step(
    request: Request,
    booklet: Booklet,
    entry_id: str,
    translate: Translator,
    call: Callable[[], Awaitable[ServiceEntryStatus]],
    *,
    form: dict[str, Any],
    default_field: str,
    facts: dict[str, object] | None = None,
) -> Response:
    """Take one step; a refusal shows at its field with the typed values kept."""
    try:
        await call()
    except (WorkflowUpdateFailedError, DomainError) as failure:
        carried = failure if isinstance(failure, DomainError) else domain_error_from(failure)
        if carried is None or isinstance(carried, NotFound) or _refused_access(failure):
            raise
        errors = FormErrors()
        message = booklet_error_message(translate, carried, **(facts or {}))
        if carried.kind == "conflict":  # about the entry's state, not a field of this form
            errors.add(None, message)
        else:
            errors.add_domain_error(
                translate, carried, default_field=default_field, message=message
            )
        status = await booklet_model.entry_status(booklet, entry_id)
        return await _entry_page(request, booklet, status, form=form, errors=errors)
    return RedirectResponse(f"{BOOKLET}/entries/{entry_id}", status_code=303)


@router.post("/entries/{entry_id}/consent")
async def consent(
    request: Request,
    entry_id: str,
    _: CsrfChecked,
    booklet: BookletDep,
    translate: Translate,
    consent_text_version: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Step 1: the owner's consent (ticked, then accepted)."""
    return await _step(
        request,
        booklet,
        entry_id,
        translate,
        lambda: booklet_model.record_consent(
            booklet, entry_id, confirmed == "on", consent_text_version
        ),
        form={},
        default_field="confirmed",
    )


@router.post("/entries/{entry_id}/details")
async def details(
    request: Request,
    entry_id: str,
    _: CsrfChecked,
    booklet: BookletDep,
    translate: Translate,
    mileage_km: Annotated[str, Form()] = "",
    service_date: Annotated[str, Form()] = "",
    remark: Annotated[str, Form()] = "",
    odometer_exchanged: Annotated[str, Form()] = "",
) -> Response:
    """Step 2: mileage, service date and remark (the workflow's validator checks them)."""
    form = {
        "mileage_km": mileage_km,
        "service_date": service_date,
        "remark": remark,
        "odometer_exchanged": odometer_exchanged == "on",
    }
    errors = FormErrors()
    mileage: int | None = None
    day: date | None = None
    try:
        parsed = parse_number(mileage_km.replace(" ", "").removesuffix("km"), translate.locale)
        mileage = int(parsed)
    except (NumberFormatError, ValueError):
        errors.add("mileage_km", translate._("Enter the mileage in km as a whole number."))
    try:
        day = date.fromisoformat(service_date)
    except ValueError:
        errors.add("service_date", translate._("Enter the service date."))
    if mileage is None or day is None:
        status = await booklet_model.entry_status(booklet, entry_id)
        return await _entry_page(request, booklet, status, form=form, errors=errors)
    checked_mileage, checked_day = mileage, day
    return await _step(
        request,
        booklet,
        entry_id,
        translate,
        lambda: booklet_model.enter_details(
            booklet, entry_id, checked_mileage, checked_day, remark, odometer_exchanged == "on"
        ),
        form=form,
        default_field="remark",
        facts={"length": len(remark)},
    )


@router.post("/entries/{entry_id}/create")
async def create(
    request: Request,
    entry_id: str,
    _: CsrfChecked,
    booklet: BookletDep,
    translate: Translate,
    cbs_items: Annotated[list[str] | None, Form()] = None,
    write_into_vehicle: Annotated[str, Form()] = "",
) -> Response:
    """Steps 3 to 5: the services performed, "write into the vehicle", create."""
    ticked = cbs_items or []
    return await _step(
        request,
        booklet,
        entry_id,
        translate,
        lambda: booklet_model.create_entry(booklet, entry_id, ticked, write_into_vehicle == "on"),
        form={"cbs_items": ticked, "write_into_vehicle": write_into_vehicle == "on"},
        default_field="cbs_items",
    )


@router.post("/entries/{entry_id}/write-to-vehicle")
async def write_again(
    request: Request, entry_id: str, _: CsrfChecked, booklet: BookletDep, translate: Translate
) -> Response:
    """Write the entry into the vehicle again, after a failed transfer."""
    return await _step(
        request,
        booklet,
        entry_id,
        translate,
        lambda: booklet_model.write_into_vehicle_now(booklet, entry_id),
        form={},
        default_field="write_into_vehicle",
    )


@router.post("/entries/{entry_id}/close")
async def close(
    request: Request, entry_id: str, _: CsrfChecked, booklet: BookletDep, translate: Translate
) -> Response:
    """Close the entry's window (after that, its maintenance log cannot be printed)."""
    status = await booklet_model.close_entry(booklet, entry_id)
    return RedirectResponse(f"{BOOKLET}/vehicles/{status.vin}?done=closed", status_code=303)


@router.get("/entries/{entry_id}/maintenance-log.pdf")
async def maintenance_log(entry_id: str, booklet: BookletDep, translate: Translate) -> Response:
    """The maintenance log PDF: the JSON API's own, printable only while the window is open,
    in the page's language."""
    return await booklet_model.maintenance_log(booklet, entry_id, translate)
