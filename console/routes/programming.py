"""ECU programming pages: start a session, watch it live, steer it, read its report.

Every step is the use case the JSON API calls (`application.programming`, see
`console.programming`): the start is `start_programming` behind the same `ecu_programming`
access check, the steering forms are `resume_session`, `skip_ecu` and `abort_session` (`POST
/programming-sessions/{id}/resume|skip-ecu|abort`), the report and the frame log are
`final_report` and `session_frame_log`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from application.identified_vehicles import vehicles_at_stations
from application.programming import (
    SessionRequest,
    abort_session,
    final_report,
    resume_session,
    session_frame_log,
    skip_ecu,
    start_programming,
)
from application.programming_report_pdf import report_pdf
from application.programming_reports import programming_report
from application.programming_views import ProgressView
from application.resources import AppResources
from console.deps import CsrfChecked, Translate, WorkshopMember
from console.forms import FormErrors, domain_error_message
from console.i18n import N_, Translator
from console.programming import (
    ECU_STATUS_LABELS,
    STATE_LABELS,
    LiveSession,
    live_session,
    session_events,
    start_form,
)
from console.rendering import render
from console.security import SESSION_COOKIE
from contracts.programming import AbortInput, ResumeInput, SkipEcuInput
from db.accounts import SessionRefusal
from db.models import User
from domain.catalogue import Service
from domain.errors import DomainError, NotFound
from web.auth import client_ip
from web.deps import AccessRepositoryDep, AccountsDep, ResourcesDep

router = APIRouter(prefix="/console/programming", include_in_schema=False)

# The programming refusals a technician can meet, in the page's language, by stable code.
MESSAGES: dict[str, str] = {
    "station-offline": N_(
        "No station worker runs at this station. Start it on the PC wired to the car."
    ),
    "package-not-found": N_("There is no flash package with this id."),
    "package-invalid": N_("The flash package failed its checks: %(detail)s"),
    "invalid-vin": N_("This is not a valid VIN."),
    "not-at-safe-point": N_("The session cannot do this now: %(detail)s"),
}


def _message(translate: Translator, error: DomainError) -> str | None:
    message = MESSAGES.get(error.code)
    return translate._(message, detail=error.detail or "") if message else None


async def _coverage_error(access: AccessRepositoryDep, workshop_id: str) -> DomainError | None:
    """The `ProgrammingAccess` check of `POST /programming-sessions`: None when covered."""
    try:
        await access.check_entitlement(workshop_id, Service.ECU_PROGRAMMING, datetime.now(UTC))
    except DomainError as error:
        return error
    return None


@router.get("/")
async def programming_home(
    request: Request,
    person: WorkshopMember,
    translate: Translate,
    resources: ResourcesDep,
    access: AccessRepositoryDep,
    station_id: Annotated[str, Query(max_length=64)] = "",
    vin: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Choose a station, a vehicle and a package (a VIN a station read is offered, and picking
    it fills in the form: `?station_id=&vin=`); the workshop's recent sessions."""
    picked = {"station_id": station_id, "vin": vin} if station_id or vin else None
    return await _home_page(request, person.user, translate, resources, access, values=picked)


async def _home_page(
    request: Request,
    user: User,
    translate: Translator,
    resources: AppResources,
    access: AccessRepositoryDep,
    *,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    assert user.workshop_id is not None
    form, recent = await start_form(resources, user, translate)
    coverage_error = await _coverage_error(access, user.workshop_id)
    at_stations = await vehicles_at_stations(resources, user)
    return render(
        request,
        "programming/start.html",
        {
            "form": form,
            "at_stations": at_stations,
            "recent": recent,
            "values": values or {},
            "errors": errors or FormErrors(),
            "no_access": domain_error_message(translate, coverage_error)
            if coverage_error
            else None,
        },
        status_code=status_code,
    )


@router.post("/")
async def start_session(
    request: Request,
    person: WorkshopMember,
    _csrf: CsrfChecked,
    translate: Translate,
    resources: ResourcesDep,
    access: AccessRepositoryDep,
    station_id: Annotated[str, Form()] = "",
    vin: Annotated[str, Form()] = "",
    package_id: Annotated[str, Form()] = "",
) -> Response:
    """The start form: the same checks and workflow start as `POST /programming-sessions`."""
    values = {"station_id": station_id, "vin": vin.strip(), "package_id": package_id}
    errors = FormErrors()
    coverage_error = await _coverage_error(access, person.workshop_id)
    if coverage_error is not None:
        errors.add_domain_error(translate, coverage_error, default_field=None)
    else:
        try:
            body = SessionRequest.model_validate(values)
            started = await start_programming(resources, person.user, body)
            return RedirectResponse(f"/console/programming/{started.session_id}", status_code=303)
        except ValidationError as error:
            errors.add_validation_error(translate, error)
        except NotFound as error:
            if error.field == "station_id":
                raise  # another workshop's station: the same not-found page as an unknown one
            errors.add_domain_error(translate, error, message=_message(translate, error))
        except DomainError as error:
            errors.add_domain_error(translate, error, message=_message(translate, error))
    return await _home_page(
        request,
        person.user,
        translate,
        resources,
        access,
        values=values,
        errors=errors,
        status_code=422,
    )


@dataclass(frozen=True)
class SessionPage:
    """One session's page as the signed-in workshop member asked for it: whose session, and
    what its live page, stream and forms need to show it."""

    request: Request
    session_id: str
    user: User
    translate: Translator
    resources: AppResources

    async def live(self) -> LiveSession:
        """The session as the live page shows it; another workshop's is not found."""
        return await live_session(self.resources, self.user, self.session_id, self.translate)

    async def show(self, errors: FormErrors | None = None, status_code: int = 200) -> Response:
        """The live page (with why a step was not taken, if one was refused)."""
        live = await self.live()
        return render(
            self.request,
            "programming/session.html",
            {
                "live": live,
                "skip_options": [(ecu, ecu) for ecu in live.actions.skippable_ecus],
                "errors": errors or FormErrors(),
            },
            status_code=status_code,
        )


async def session_page_of(
    request: Request,
    session_id: str,
    person: WorkshopMember,
    translate: Translate,
    resources: ResourcesDep,
) -> SessionPage:
    return SessionPage(request, session_id, person.user, translate, resources)


SessionPageDep = Annotated[SessionPage, Depends(session_page_of)]


@router.get("/{session_id}")
async def session_page(page: SessionPageDep) -> Response:
    """The live page: rendered now, then kept current by the event stream below."""
    return await page.show()


@router.get("/{session_id}/events")
async def session_event_stream(page: SessionPageDep, accounts: AccountsDep) -> StreamingResponse:
    """`text/event-stream` of the session: a `progress` event whenever it changed, until it
    ended or the browser left; a `signed-out` event ends it once the sign-in session has
    ended (signed out, expired), checked every few seconds, not only when it opened."""
    request = page.request
    await page.live()  # 404 before the stream
    token, address = request.cookies.get(SESSION_COOKIE, ""), client_ip(request)
    sign_in_again = f"/console/sign-in?reason=ended&next=/console/programming/{page.session_id}"

    async def signed_out() -> str | None:
        ended = isinstance(await accounts.live_session(token, address), SessionRefusal)
        return sign_in_again if ended else None

    return StreamingResponse(
        session_events(page.live, request.is_disconnected, signed_out),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


Step = TypeVar("Step", bound=BaseModel)
SteeringCase = Callable[[AppResources, User, str, Step], Awaitable[ProgressView]]


async def _steer(
    page: SessionPage,
    use_case: SteeringCase[Step],
    step_model: type[Step],
    field: str,
    value: str,
) -> Response:
    """Validate the form's one field into the step's input, then take the step with the use
    case the JSON API calls (the same checks, and 409 for an ended session)."""
    translate = page.translate
    try:
        step = step_model.model_validate({field: value})
    except ValidationError as error:
        return await page.show(_refused(translate, error, field), 422)
    try:
        await use_case(page.resources, page.user, page.session_id, step)
    except DomainError as error:
        errors = FormErrors()
        errors.add_domain_error(
            translate, error, default_field=field, message=_message(translate, error)
        )
        return await page.show(errors, 409)
    return RedirectResponse(f"/console/programming/{page.session_id}", status_code=303)


def _refused(translate: Translator, error: ValidationError, field: str) -> FormErrors:
    errors = FormErrors()
    errors.add_validation_error(translate, error)
    if not errors.fields:
        errors.add(field, translate._("This value is not valid."))
    return errors


# The person is checked before the form's token, as before every console form.
@router.post("/{session_id}/resume")
async def resume(
    page: SessionPageDep, _csrf: CsrfChecked, note: Annotated[str, Form()] = ""
) -> Response:
    """The fault is fixed: `resume_session`, as `POST /programming-sessions/{id}/resume`."""
    return await _steer(page, resume_session, ResumeInput, "note", note)


@router.post("/{session_id}/skip-ecu")
async def skip(
    page: SessionPageDep, _csrf: CsrfChecked, ecu: Annotated[str, Form()] = ""
) -> Response:
    """Leave out an ECU that has not started: `skip_ecu`, as `POST
    /programming-sessions/{id}/skip-ecu`."""
    return await _steer(page, skip_ecu, SkipEcuInput, "ecu", ecu)


@router.post("/{session_id}/abort")
async def abort(
    page: SessionPageDep, _csrf: CsrfChecked, reason: Annotated[str, Form()] = ""
) -> Response:
    """Stop at the safe point: `abort_session`, as `POST /programming-sessions/{id}/abort`."""
    return await _steer(page, abort_session, AbortInput, "reason", reason.strip())


@router.get("/{session_id}/report")
async def report(page: SessionPageDep) -> Response:
    """The session's report once it ended (while it runs: the conflict page)."""
    progress = await final_report(page.resources, page.user, page.session_id)
    translate = page.translate
    return render(
        page.request,
        "programming/report.html",
        {
            "report": progress,
            "state_label": translate._(STATE_LABELS.get(progress.state, progress.state)),
            "ecu_labels": {
                e.ecu: translate._(ECU_STATUS_LABELS.get(e.status, e.status)) for e in progress.ecus
            },
        },
    )


@router.get("/{session_id}/signed-report.json")
async def download_signed_report(
    session_id: str, person: WorkshopMember, resources: ResourcesDep
) -> Response:
    """The signed programming report (the API's `/report`), to keep and verify with
    `aos report verify`."""
    document = await programming_report(resources, person.user, session_id)
    disposition = f'attachment; filename="programming-report-{session_id}.json"'
    return Response(
        document, media_type="application/json", headers={"Content-Disposition": disposition}
    )


@router.get("/{session_id}/signed-report.pdf")
async def signed_report_pdf(
    session_id: str, person: WorkshopMember, resources: ResourcesDep
) -> Response:
    """The signed programming report printed, with its key id and signature."""
    document = await programming_report(resources, person.user, session_id)
    disposition = f'inline; filename="programming-report-{session_id}.pdf"'
    pdf = await asyncio.to_thread(report_pdf, document)
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/{session_id}/frame-log")
async def download_frame_log(
    session_id: str, person: WorkshopMember, resources: ResourcesDep
) -> StreamingResponse:
    """Every UDS frame of the session (the API's trace), as an ASC file to download, streamed
    from disk."""
    chunks = await session_frame_log(resources, person.user, session_id)
    return StreamingResponse(
        chunks,
        media_type="text/plain",
        headers={"Content-Disposition": f'attachment; filename="session-{session_id}.asc"'},
    )
