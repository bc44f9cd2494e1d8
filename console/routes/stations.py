"""The stations page: the workshop's stations with their status; owners claim, rename and
release stations and issue a station's token.

The same use cases as the JSON API's `/workshops/{id}/stations` routes (`application.stations`):
`claim_station` (a station never seen polling only when confirmed), `rename_station`,
`release_station` and `new_station_token` (shown once; the previous token stops working).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from application.authorization import ensure_owner
from application.stations import (
    StationRegistration,
    StationRename,
    claim_station,
    new_station_token,
    owned_station,
    release_station,
    rename_station,
    stations_with_status,
)
from console.confirmation import confirmation_page, confirmed
from console.deps import CsrfChecked, Translate, WorkshopMember
from console.forms import FormErrors
from console.rendering import render
from domain.service_history import (
    StationIdInvalid,
    StationIdTaken,
    StationNeverSeen,
    StationNotFound,
    check_station_id,
)
from web.deps import ResourcesDep

router = APIRouter(prefix="/console", include_in_schema=False)


def _station_id(station_id: str) -> str:
    """A station id from the page's path; one that breaks the rule is no station at all."""
    try:
        return check_station_id(station_id)
    except StationIdInvalid as error:
        raise StationNotFound("no station with this id", field="station_id") from error


class StationsPage:
    """The page every form of it answers with when refused: the workshop's stations with
    their status (asked of Temporal only when shown), the forms, and the refusal."""

    def __init__(self, request: Request, person: WorkshopMember, resources: ResourcesDep) -> None:
        self.request, self.person, self.resources = request, person, resources

    async def show(
        self,
        *,
        claim: dict[str, Any] | None = None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Response:
        listed = await stations_with_status(self.resources, self.person.user)
        return render(
            self.request,
            "stations/stations.html",
            {
                "stations": listed,
                "may_change": self.person.is_owner,
                "claim": claim or {"station_id": "", "name": "", "confirm_never_seen": False},
                "errors": errors or FormErrors(),
            },
            status_code=status_code,
        )

    async def row_field(self, kind: str, station_id: str) -> tuple[str, str]:
        """For an owner acting on one row: the row's station id (no station when it breaks
        the rule) and the value of the row's own field, `<kind>-<station>` (so that each
        row's field has an id of its own)."""
        ensure_owner(self.person.user, self.person.workshop_id)
        station_id = _station_id(station_id)
        value = (await self.request.form()).get(f"{kind}-{station_id}", "")
        return station_id, value if isinstance(value, str) else ""


Page = Annotated[StationsPage, Depends()]


@router.get("/stations")
async def stations_page(page: Page) -> Response:
    """The workshop's stations, online when their worker polls."""
    return await page.show()


@router.post("/stations")
async def claim(
    _: CsrfChecked,
    page: Page,
    translate: Translate,
    station_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    confirm_never_seen: Annotated[str, Form()] = "",
) -> Response:
    """Owners: claim a station for the workshop."""
    typed = {"station_id": station_id, "name": name, "confirm_never_seen": bool(confirm_never_seen)}
    errors = FormErrors()
    try:
        registration = StationRegistration.model_validate(typed)
        await claim_station(page.resources, page.person.user, page.person.workshop_id, registration)
    except ValidationError as error:
        errors.add_validation_error(translate, error)
    except StationNeverSeen as error:  # the answer is the confirmation, so it is shown there
        errors.add_domain_error(
            translate,
            error,
            fields={"station_id": "confirm_never_seen"},
            default_field="confirm_never_seen",
        )
    except StationIdTaken as error:
        errors.add_domain_error(translate, error, default_field="station_id")
    if errors:
        return await page.show(claim=typed, errors=errors, status_code=422)
    return RedirectResponse("/console/stations", status_code=303)


@router.post("/stations/{station_id}/name")
async def rename(station_id: str, _: CsrfChecked, page: Page, translate: Translate) -> Response:
    """Owners: rename one of the workshop's stations (the form's field is `name-<station>`)."""
    station_id, name = await page.row_field("name", station_id)
    try:
        renamed = StationRename.model_validate({"name": name})
    except ValidationError as error:
        errors = FormErrors()
        errors.add_validation_error(translate, error, fields={"name": f"name-{station_id}"})
        return await page.show(errors=errors, status_code=422)
    await rename_station(
        page.resources, page.person.user, page.person.workshop_id, station_id, renamed
    )
    return RedirectResponse("/console/stations", status_code=303)


@router.post("/stations/{station_id}/release")
async def release(station_id: str, _: CsrfChecked, page: Page, translate: Translate) -> Response:
    """Owners: release one of the workshop's stations; its token stops working at once, so the
    form asks for a tick first (its field is `release-<station>`)."""
    station_id, ticked = await page.row_field("release", station_id)
    if not ticked:
        errors = FormErrors()
        errors.add(
            f"release-{station_id}",
            translate._("Tick the box to release the station: its token stops working at once."),
        )
        return await page.show(errors=errors, status_code=422)
    await release_station(page.resources, page.person.user, page.person.workshop_id, station_id)
    return RedirectResponse("/console/stations", status_code=303)


@router.post("/stations/{station_id}/token")
async def token(
    request: Request,
    station_id: str,
    _: CsrfChecked,
    person: WorkshopMember,
    resources: ResourcesDep,
    translate: Translate,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Owners: issue the station's token and show it once (the previous one stops working, a
    running worker is cut off: so only with `confirm=yes`, else the page asks first)."""
    if not confirmed(confirm):
        await owned_station(resources, person.user, person.workshop_id, _station_id(station_id))
        return confirmation_page(
            request,
            heading=translate._("Issue a new token for %(station)s?", station=station_id),
            warning=translate._(
                "The station's current token stops working at once: a running station worker "
                "is cut off until it is given the new token."
            ),
            action=f"/console/stations/{_station_id(station_id)}/token",
            confirm_label=translate._("Issue the new token"),
            cancel="/console/stations",
        )
    issued = await new_station_token(
        resources, person.user, person.workshop_id, _station_id(station_id)
    )
    response = render(
        request,
        "stations/token.html",
        {"station_id": station_id, "token": issued},
    )
    response.headers["Cache-Control"] = "no-store"  # shown once: never from a cache
    return response
