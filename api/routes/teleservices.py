"""Teleservices: the inbound endpoint of the connected-car backend, the teleservice tickets
its messages open for a car's service partner, and remote key-read requests.

`POST /teleservices/messages` takes one message signed by the Standard Webhooks scheme
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the portal's teleservice secret;
no session: the signature is the credential. The ticket and remote key-read routes need a
`teleservice` ticket (administrators: any workshop's).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ConfigDict, Field

from api.signed_messages import SignedHeadersDep, with_message_rate
from api.uploads import upload_body
from application import remote_key_reads as remote_reads
from application import teleservices
from application.remote_key_reads import OwnerConsent
from application.teleservices import (
    InboundReceipt,
    MessageInvalid,
    MessageReplayed,
    MessageTooLarge,
    TeleservicesNotConfigured,
    TicketFilter,
    UnknownVehicleOrWorkshop,
)
from contracts.remote_key_reads import RemoteKeyReadStatus
from contracts.teleservices import TeleserviceTicketStatus
from domain.entitlement import AccessExpired, NoAccess
from domain.remote_key_reads import (
    RemoteKeyReadNoContract,
    RemoteKeyReadNoRight,
    RemoteKeyReadNotCapable,
    RemoteKeyReadNotFound,
    RemoteKeyReadNotOpen,
)
from domain.service_history import ConsentRequired, ConsentTextOutdated, VehicleNotFound
from domain.signed_messages import (
    MessageSignatureInvalid,
    MessageStale,
    MessageUnsigned,
)
from domain.teleservices import (
    MAX_CLOSE_REASON_LENGTH,
    InvalidAppointment,
    InvalidTicketStep,
    ServiceLevel,
    TicketNotFound,
    TicketStepNotAllowed,
)
from domain.vin import VIN_PATTERN
from web.auth import client_ip
from web.deps import AdminUser, CurrentUser, ResourcesDep
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses

router = APIRouter(tags=["teleservices"])

TicketIdPath = Annotated[str, Path(min_length=4, max_length=64, pattern=r"^tt-[0-9a-f]{1,61}$")]
SIGNED_HEADER = {"max_length": 1000}


class TicketView(BaseModel):
    """One row of the workshop's ticket list."""

    model_config = ConfigDict(from_attributes=True)

    ticket_id: str = Field(validation_alias="id")
    vin: str
    item: str
    workshop_id: str
    state: str
    service_level: ServiceLevel
    opened_at: datetime
    acknowledged_at: datetime | None
    appointment_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    close_detail: str | None
    calls: int
    last_call_at: datetime


@router.post(
    "/teleservices/messages",
    status_code=202,
    response_model=InboundReceipt,
    responses=with_message_rate(
        problem_responses(
            MessageUnsigned,
            MessageSignatureInvalid,
            MessageStale,
            MessageReplayed,
            MessageTooLarge,
            MessageInvalid,
            TeleservicesNotConfigured,
            WORKFLOW_UNAVAILABLE,
        )
    ),
    openapi_extra=upload_body(
        "application/json",
        "A Teleservice Call, Battery Guard message, service request or resolved item (see "
        "`domain.teleservices`), signed by the Standard Webhooks scheme; at most "
        "{teleservice_message_max_bytes} bytes.",
        {"x-max-bytes": "teleservice_message_max_bytes"},
        binary=False,
    ),
)
async def inbound_message(
    request: Request,
    resources: ResourcesDep,
    headers: SignedHeadersDep,
) -> InboundReceipt:
    """Accept one signed message of the connected-car backend, exactly once.

    Refused, with nothing stored: unsigned or wrongly signed (401), outside the timestamp
    tolerance (401 `message-stale`), a `webhook-id` accepted before (409 `message-replayed`),
    too large (413), not a known message (422 `message-invalid`); more than
    `AOS_SIGNED_MESSAGES_PER_MINUTE` signed messages from one address this minute (429
    `too-many-messages`, counted before the body is read).
    """
    declared = request.headers.get("content-length", "")
    return await teleservices.receive_message(
        resources,
        headers,
        request.stream(),
        int(declared) if declared.isdigit() else None,
        client_ip(request),
    )


@router.get(
    "/teleservice-tickets",
    response_model=list[TicketView],
    responses=problem_responses(NoAccess, AccessExpired),
)
async def tickets(
    user: CurrentUser,
    resources: ResourcesDep,
    workshop_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str, Query(pattern="^(open|all)$")] = "all",
    service_level: ServiceLevel | None = None,
    vin: Annotated[str | None, Query(pattern=VIN_PATTERN)] = None,
) -> list[Any]:
    """The workshop's teleservice tickets, newest first: `state=open` for the open ones,
    `service_level=due` (reminded) or `overdue` (escalated, or the appointment passed)."""
    rows = await teleservices.list_tickets(
        resources,
        user,
        workshop_id,
        TicketFilter(open_only=state == "open", service_level=service_level, vin=vin),
    )
    return [TicketView.model_validate(row) for row in rows]


@router.get(
    "/teleservice-tickets/{ticket_id}",
    response_model=TeleserviceTicketStatus,
    responses=problem_responses(TicketNotFound, NoAccess, AccessExpired, WORKFLOW_UNAVAILABLE),
)
async def ticket(
    ticket_id: TicketIdPath, user: CurrentUser, resources: ResourcesDep
) -> TeleserviceTicketStatus:
    """The ticket with its calls and the notices it sent."""
    return await teleservices.ticket_status(resources, user, ticket_id)


_STEP_PROBLEMS = problem_responses(
    InvalidAppointment,
    TicketNotFound,
    TicketStepNotAllowed,
    InvalidTicketStep,
    NoAccess,
    AccessExpired,
    WORKFLOW_UNAVAILABLE,
)


def ticket_step(path: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of a workshop's step on a ticket (`POST path`): it answers the ticket's
    status, or one of the `_STEP_PROBLEMS`."""
    return router.post(path, response_model=TeleserviceTicketStatus, responses=_STEP_PROBLEMS)


@ticket_step("/teleservice-tickets/{ticket_id}/acknowledge")
async def acknowledge(
    ticket_id: TicketIdPath, user: CurrentUser, resources: ResourcesDep
) -> TeleserviceTicketStatus:
    """The workshop has seen the ticket: no more acknowledgement reminders."""
    return await teleservices.acknowledge_ticket(resources, user, ticket_id)


class AppointmentRequest(BaseModel):
    appointment_at: datetime = Field(description="When the car comes in (with a time zone)")


@ticket_step("/teleservice-tickets/{ticket_id}/appointment")
async def plan_appointment(
    ticket_id: TicketIdPath, body: AppointmentRequest, user: CurrentUser, resources: ResourcesDep
) -> TeleserviceTicketStatus:
    """Plan (or move) the appointment; if it passes without a service entry, the workshop is
    reminded."""
    return await teleservices.plan_ticket_appointment(
        resources, user, ticket_id, body.appointment_at
    )


class CloseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_CLOSE_REASON_LENGTH)


@ticket_step("/teleservice-tickets/{ticket_id}/close")
async def close(
    ticket_id: TicketIdPath, body: CloseRequest, user: CurrentUser, resources: ResourcesDep
) -> TeleserviceTicketStatus:
    """Close the ticket by hand, with the reason."""
    return await teleservices.close_ticket(resources, user, ticket_id, body.reason)


class ServicePartnerRequest(BaseModel):
    workshop_id: str | None = Field(max_length=64, description="None: the car has no partner")


@router.put(
    "/admin/vehicles/{vin}/service-partner",
    status_code=204,
    responses=problem_responses(UnknownVehicleOrWorkshop),
)
async def assign_service_partner(
    vin: Annotated[str, Path(pattern=VIN_PATTERN)],
    body: ServicePartnerRequest,
    user: AdminUser,
    resources: ResourcesDep,
) -> None:
    """Operators: the car's service partner (demo data; the backend reports it in production)."""
    await teleservices.assign_service_partner(resources, user, vin, body.workshop_id)


# --- remote key reads ---------------------------------------------------------------------------

RequestIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class RemoteKeyReadRequestBody(BaseModel):
    owner_consent: OwnerConsent | None = Field(
        default=None,
        description="The owner's consent (the service booklet's consent text and version); "
        "needed unless the workshop is the car's service partner",
    )


class RemoteKeyReadView(BaseModel):
    """One row of the KaSIO list "Remote KeyRead requests"."""

    model_config = ConfigDict(from_attributes=True)

    request_id: str = Field(validation_alias="id")
    vin: str
    state: str
    requested_by: str
    requested_at: datetime
    deadline_at: datetime
    ended_at: datetime | None
    key_record_id: int | None
    age_seconds: int = Field(default=0, description="Since the request, until it ended")


_REMOTE_REFUSALS = (
    RemoteKeyReadNoRight,
    RemoteKeyReadNotCapable,
    RemoteKeyReadNoContract,
    VehicleNotFound,
    ConsentRequired,
    ConsentTextOutdated,
    NoAccess,
    AccessExpired,
    WORKFLOW_UNAVAILABLE,
)


@router.post(
    "/vehicles/{vin}/remote-key-reads",
    status_code=201,
    response_model=RemoteKeyReadStatus,
    responses=problem_responses(*_REMOTE_REFUSALS),
)
async def request_remote_key_read(
    vin: Annotated[str, Path(pattern=VIN_PATTERN)],
    body: RemoteKeyReadRequestBody,
    user: CurrentUser,
    resources: ResourcesDep,
) -> RemoteKeyReadStatus:
    """Ask the car for its key data over the connected-car backend. Refused: not capable,
    no ConnectedDrive contract, no right (neither the service partner nor the owner's consent),
    or no teleservice ticket. The request waits for the car until its deadline."""
    return await remote_reads.request_remote_key_read(resources, user, vin, body.owner_consent)


@router.get(
    "/remote-key-reads",
    response_model=list[RemoteKeyReadView],
    responses=problem_responses(NoAccess, AccessExpired),
)
async def remote_key_reads(
    user: CurrentUser,
    resources: ResourcesDep,
    workshop_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[RemoteKeyReadView]:
    """The workshop's remote key-read requests with their state and age, newest first."""
    rows = await remote_reads.list_remote_key_reads(resources, user, workshop_id)
    now = datetime.now(UTC)
    views = []
    for row in rows:
        view = RemoteKeyReadView.model_validate(row)
        view.age_seconds = int(remote_reads.request_age(row, now).total_seconds())
        views.append(view)
    return views


@router.get(
    "/remote-key-reads/{request_id}",
    response_model=RemoteKeyReadStatus,
    responses=problem_responses(
        RemoteKeyReadNotFound, NoAccess, AccessExpired, WORKFLOW_UNAVAILABLE
    ),
)
async def remote_key_read(
    request_id: RequestIdPath, user: CurrentUser, resources: ResourcesDep
) -> RemoteKeyReadStatus:
    return await remote_reads.remote_key_read_status(resources, user, request_id)


@router.post(
    "/remote-key-reads/{request_id}/cancel",
    response_model=RemoteKeyReadStatus,
    responses=problem_responses(
        RemoteKeyReadNotFound, RemoteKeyReadNotOpen, NoAccess, AccessExpired, WORKFLOW_UNAVAILABLE
    ),
)
async def cancel_remote_key_read(
    request_id: RequestIdPath, user: CurrentUser, resources: ResourcesDep
) -> RemoteKeyReadStatus:
    """Stop waiting for the car."""
    return await remote_reads.cancel_remote_key_read(resources, user, request_id)
