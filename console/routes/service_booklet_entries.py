"""The service booklet (KaSIO) pages of one new maintenance or repair entry, step by step:
consent, details, services and create (and the transfer into the vehicle), closing, and its
maintenance log.

Each step is one use case of `application.service_history` (through `console.service_booklet`);
a refusal shows at its field with the typed values kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from babel.numbers import NumberFormatError, parse_number
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from console import service_booklet as booklet_model
from console.deps import CsrfChecked, Translate
from console.forms import FormErrors
from console.i18n import Translator
from console.rendering import translator
from console.service_booklet import Booklet
from console.service_booklet_pages import (
    BOOKLET,
    BookletDep,
    BookletRoute,
    booklet_page,
    refused_access,
)
from console.service_booklet_texts import booklet_error_message
from contracts.service_history import ServiceEntryStatus
from domain.errors import DomainError, NotFound
from domain.service_history import MAX_REMARK_LENGTH

router = APIRouter(prefix=BOOKLET, include_in_schema=False, route_class=BookletRoute)


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
    # The vehicle alone: the entry's page shows no histories, keys or stations.
    vehicle_row = await booklet_model.vehicle(booklet, status.vin)
    typed = form or {}
    details = status.details
    return booklet_page(
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


@dataclass(frozen=True)
class EntryForm:
    """A form posted on one entry's page (its CSRF token checked): whose entry, and what the
    page needs to show it again with a refusal."""

    request: Request
    entry_id: str
    booklet: Booklet
    translate: Translator

    async def refused(self, form: dict[str, Any], errors: FormErrors) -> Response:
        """The entry's page again, the typed values kept and the refusal at its field."""
        status = await booklet_model.entry_status(self.booklet, self.entry_id)
        return await _entry_page(self.request, self.booklet, status, form=form, errors=errors)

    async def step(
        self,
        call: Callable[[], Awaitable[ServiceEntryStatus]],
        *,
        form: dict[str, Any],
        default_field: str,
        facts: dict[str, object] | None = None,
    ) -> Response:
        """Take one step; a refusal shows at its field with the typed values kept."""
        try:
            await call()
        except DomainError as carried:
            if isinstance(carried, NotFound) or refused_access(carried):
                raise
            errors = FormErrors()
            message = booklet_error_message(self.translate, carried, **(facts or {}))
            if carried.kind == "conflict":  # about the entry's state, not a field of this form
                errors.add(None, message)
            else:
                errors.add_domain_error(
                    self.translate, carried, default_field=default_field, message=message
                )
            return await self.refused(form, errors)
        return RedirectResponse(f"{BOOKLET}/entries/{self.entry_id}", status_code=303)


# The form's token is checked before the booklet's access, as before every booklet form.
async def entry_form(
    request: Request, entry_id: str, _: CsrfChecked, booklet: BookletDep, translate: Translate
) -> EntryForm:
    return EntryForm(request, entry_id, booklet, translate)


EntryFormDep = Annotated[EntryForm, Depends(entry_form)]


@router.post("/entries/{entry_id}/consent")
async def consent(
    posted: EntryFormDep,
    consent_text_version: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Step 1: the owner's consent (ticked, then accepted)."""
    return await posted.step(
        lambda: booklet_model.record_consent(
            posted.booklet, posted.entry_id, confirmed == "on", consent_text_version
        ),
        form={},
        default_field="confirmed",
    )


@router.post("/entries/{entry_id}/details")
async def details(
    posted: EntryFormDep,
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
    translate = posted.translate
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
        return await posted.refused(form, errors)
    checked_mileage, checked_day = mileage, day
    return await posted.step(
        lambda: booklet_model.enter_details(
            posted.booklet,
            posted.entry_id,
            checked_mileage,
            checked_day,
            remark,
            odometer_exchanged == "on",
        ),
        form=form,
        default_field="remark",
        facts={"length": len(remark)},
    )


@router.post("/entries/{entry_id}/create")
async def create(
    posted: EntryFormDep,
    cbs_items: Annotated[list[str] | None, Form()] = None,
    write_into_vehicle: Annotated[str, Form()] = "",
) -> Response:
    """Steps 3 to 5: the services performed, "write into the vehicle", create."""
    ticked = cbs_items or []
    write = write_into_vehicle == "on"
    return await posted.step(
        lambda: booklet_model.create_entry(posted.booklet, posted.entry_id, ticked, write),
        form={"cbs_items": ticked, "write_into_vehicle": write},
        default_field="cbs_items",
    )


@router.post("/entries/{entry_id}/write-to-vehicle")
async def write_again(posted: EntryFormDep) -> Response:
    """Write the entry into the vehicle again, after a failed transfer."""
    return await posted.step(
        lambda: booklet_model.write_into_vehicle_now(posted.booklet, posted.entry_id),
        form={},
        default_field="write_into_vehicle",
    )


@router.post("/entries/{entry_id}/close")
async def close(posted: EntryFormDep) -> Response:
    """Close the entry's window (after that, its maintenance log cannot be printed)."""
    status = await booklet_model.close_entry(posted.booklet, posted.entry_id)
    return RedirectResponse(f"{BOOKLET}/vehicles/{status.vin}?done=closed", status_code=303)


@router.get("/entries/{entry_id}/maintenance-log.pdf")
async def maintenance_log(entry_id: str, booklet: BookletDep, translate: Translate) -> Response:
    """The maintenance log PDF: the JSON API's own, printable only while the window is open,
    in the page's language."""
    document = await booklet_model.maintenance_log(booklet, entry_id, translate)
    return Response(
        document.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{document.filename}"'},
    )
