"""Operators' pages (administrators only): registrations to decide, the flow search, a flow's
timeline and state diagram, and the outbox of the embedded mode.

Each is the JSON API's own call: `application.registration`'s `list_registrations` and
`decide_registration` (`/admin/registrations`, `/admin/registrations/{id}/decision`), the use
cases `search_flows` (`GET /flows`), `flow_timeline` and `state_diagram` (`/flows/...`) of
`application.operations`, `outbox_mail` (`GET /admin/outbox`). Anyone else gets the console's
"you may not do this" page.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from application.authorization import ensure_administrator
from application.operations import MACHINES, STATUSES, search_flows
from application.registration import decide_registration, list_registrations
from console.deps import CsrfChecked, SignedIn, SignedInPerson, Translate
from console.flow_texts import FLOW_FILTERS
from console.forms import FormErrors
from console.operators import flow_detail
from console.rendering import render
from db.base import INTEGER_MAX
from db.outbox import outbox_mail
from domain.errors import DomainError
from web.deps import ResourcesDep

router = APIRouter(prefix="/console/operators", include_in_schema=False)

OUTBOX_PAGE = 50
SEARCH_PAGE = 50


async def administrator(person: SignedIn) -> SignedInPerson:
    ensure_administrator(person.user)
    return person


Administrator = Annotated[SignedInPerson, Depends(administrator)]


@router.get("/")
async def operators_home(
    request: Request, admin: Administrator, resources: ResourcesDep
) -> Response:
    """Applications waiting for a decision, and the ways into the flows and the outbox."""
    waiting = await list_registrations(resources, admin.user, "under_review", 100, 0)
    return render(
        request,
        "operators/home.html",
        {
            "registrations": waiting,
            "decided": request.query_params.get("decided"),
            "embedded": resources.settings.smtp_host is None,
        },
    )


@router.post("/registrations/{registration_id}/decision")
async def decide(
    request: Request,
    registration_id: str,
    admin: Administrator,
    _csrf: CsrfChecked,
    translate: Translate,
    resources: ResourcesDep,
    decision: Annotated[Literal["approve", "reject"], Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve or reject: the same workflow update as `/admin/registrations/{id}/decision`."""
    try:
        await decide_registration(
            resources,
            admin.user,
            registration_id,
            approve=decision == "approve",
            reason=reason.strip(),
        )
    except DomainError as error:
        if error.kind == "not_found":
            raise
        errors = FormErrors()
        errors.add_domain_error(translate, error)
        waiting = await list_registrations(resources, admin.user, "under_review", 100, 0)
        return render(
            request,
            "operators/home.html",
            {
                "registrations": waiting,
                "decided": None,
                "errors": errors,
                "embedded": resources.settings.smtp_host is None,
            },
            status_code=409,
        )
    return RedirectResponse(f"/console/operators/?decided={decision}d", status_code=303)


@router.get("/flows")
async def flows(
    request: Request,
    admin: Administrator,
    translate: Translate,
    resources: ResourcesDep,
    vin: str = "",
    workshop: str = "",
    state: str = "",
    type: str = "",
    status: str = "",
    page_token: str = "",
) -> Response:
    """The flow search of `GET /flows`, by VIN, workshop, business state, type or status."""
    values = {"vin": vin, "workshop": workshop, "state": state, "type": type, "status": status}
    errors = FormErrors()
    found = None
    searched = any(values.values())
    if searched:
        try:
            found = await search_flows(
                resources,
                admin.user,
                vin=vin.strip() or None,
                workshop=workshop.strip() or None,
                state=state.strip() or None,
                type=type or None,
                status=status if status in STATUSES else None,  # type: ignore[arg-type]
                page_size=SEARCH_PAGE,
                page_token=page_token or None,
            )
        except DomainError as error:
            errors.add_domain_error(translate, error)
    return render(
        request,
        "operators/flows.html",
        {
            "values": values,
            "errors": errors,
            "found": found,
            "searched": searched,
            "type_options": [("", translate._("Any"))]
            + [(k, FLOW_FILTERS["flow_type"](translate, k)) for k in sorted(MACHINES)],
            "status_options": [("", translate._("Any"))]
            + [(k, FLOW_FILTERS["flow_status"](translate, k)) for k in STATUSES],
        },
        status_code=422 if errors else 200,
    )


@router.get("/flows/{workflow_id}")
async def flow(
    request: Request, workflow_id: str, admin: Administrator, resources: ResourcesDep
) -> Response:
    """A flow's timeline, and its state diagram with the current state marked."""
    detail = await flow_detail(resources, admin.user, workflow_id)
    return render(request, "operators/flow.html", {"detail": detail, "workflow_id": workflow_id})


@router.get("/outbox")
async def outbox(
    request: Request,
    admin: Administrator,
    resources: ResourcesDep,
    recipient: str = "",
    offset: Annotated[int, Query(ge=0, le=INTEGER_MAX)] = 0,
) -> Response:
    """The mail the portal sent while no SMTP server is configured (the embedded mode)."""
    mails = await outbox_mail(
        resources.session_factory, recipient.strip() or None, OUTBOX_PAGE, offset
    )
    return render(
        request,
        "operators/outbox.html",
        {
            "mails": mails,
            "recipient": recipient,
            "offset": offset,
            "page": OUTBOX_PAGE,
            "embedded": resources.settings.smtp_host is None,
        },
    )
