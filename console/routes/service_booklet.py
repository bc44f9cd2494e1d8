"""The service booklet (KaSIO) pages around a vehicle: find it, its page (with its histories
and key reads), open a new maintenance or repair entry for it, delete an entry.

Every page needs the service booklet covered (`console.service_booklet_pages.BookletRoute`).
What each page shows and does comes from `console.service_booklet`, over the use cases of
`application/`. The entry's own steps are in `console.routes.service_booklet_entries`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from console import service_booklet as booklet_model
from console.confirmation import confirmation_page, confirmed
from console.deps import CsrfChecked, Translate
from console.forms import FormErrors
from console.rendering import translator
from console.service_booklet import Booklet, HistorySort
from console.service_booklet_pages import (
    BOOKLET,
    BookletDep,
    BookletRoute,
    booklet_page,
    refused_access,
    station_options,
)
from console.service_booklet_texts import booklet_error_message
from domain.errors import DomainError, NotFound
from domain.service_history import EntryKind, ServiceEntryNotFound

router = APIRouter(prefix=BOOKLET, include_in_schema=False, route_class=BookletRoute)


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
    return booklet_page(
        request,
        "kasio/find.html",
        {
            "page": page,
            "query": query,
            "found": found,
            "read_row": next((r for r in page.key_rows if r.key_record_id == read_id), None),
            "station_id": station_id or (online[0] if online else ""),
            "station_options": station_options(translator(request), page.stations),
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
            if refused_access(error) is not None:
                raise
            errors.add("station_id", booklet_error_message(translate, error))
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
    return booklet_page(
        request,
        "kasio/vehicle.html",
        {
            "page": page,
            "v": page.vehicle,
            "chosen_key": chosen_key,
            "entry_station": (chosen_key.station_id if chosen_key else None)
            or (page.keys[0].station_id if page.keys else None)
            or "",
            "station_options": station_options(
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
        if error.code in ("invalid-vin", "vehicle-not-found") or refused_access(error):
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
    except DomainError as refused:
        stored = await booklet.service_history.find_entry(entry_id)
        if isinstance(refused, NotFound) or refused_access(refused) or stored is None:
            raise
        errors = FormErrors()
        errors.add(f"entry-{entry_id}", booklet_error_message(translate, refused))
        return await _vehicle_page(
            request, booklet, stored.vin, sort=HistorySort(), errors=errors, status_code=409
        )
    return RedirectResponse(f"{BOOKLET}/vehicles/{vin}?done=deleted", status_code=303)
