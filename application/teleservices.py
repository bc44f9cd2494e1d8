"""Teleservices: signed messages from the connected-car backend, and the teleservice tickets
they open. The API's `/teleservices/...` and `/teleservice-tickets/...` routes, the console and
the bench call these.

An inbound message is accepted only when signed by the Standard Webhooks scheme with the
portal's secret, within the timestamp tolerance, at most `teleservice_message_max_bytes`
long, and not seen before (its `webhook-id`, stored in `inbound_messages`). A refused message
leaves nothing but a `teleservices.audit` log line. An accepted one is stored, then each of its
due items is signalled (with start) to the car's ticket of that item; the ticket counts a
message once by its id, so a message delivered twice at once, or delivered again after a
crash between storing and signalling, is still processed once.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, Field, TypeAdapter
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from application.authorization import ensure_workshop_access
from application.resources import AppResources
from application.signed_inbound import read_bounded, validated_body
from application.workflow_calls import execute_update
from contracts import search_attributes
from contracts.errors import domain_error_from
from contracts.remote_key_reads import (
    KEY_RECEIVED_SIGNAL,
    KeyReceived,
    remote_key_read_workflow_id,
)
from contracts.teleservices import (
    TELESERVICE_TICKET_WORKFLOW,
    AcknowledgeInput,
    CloseTicketInput,
    ItemResolvedByCar,
    PlanAppointmentInput,
    TeleserviceTicketInput,
    TeleserviceTicketStatus,
    TicketCall,
    TicketSignal,
    TicketUpdate,
    teleservice_ticket_workflow_id,
)
from db.access_repository import AccessRepository
from db.models import TeleserviceTicketRecord, User
from db.teleservices import TeleserviceRepository
from domain.accounts import Role
from domain.catalogue import Service
from domain.errors import Conflict, DomainError, Forbidden, NotFound, TooLarge
from domain.signed_messages import SignedHeaders, verify
from domain.teleservices import (
    AnyCarMessage,
    CarMessage,
    ItemResolved,
    RemoteKeyData,
    ServiceLevel,
    TicketNotFound,
    TicketStepNotAllowed,
    VehicleFactsReport,
    due_items,
)

audit = logging.getLogger("teleservices.audit")
Result = TypeVar("Result")

_MESSAGE = TypeAdapter[AnyCarMessage](CarMessage)


class MessageReplayed(Conflict):
    code = "message-replayed"
    title = "A message with this webhook-id was accepted before"


class MessageTooLarge(TooLarge):
    code = "message-too-large"
    title = "The message is larger than the portal accepts"


class MessageInvalid(DomainError):
    code = "message-invalid"
    title = "The signed message is not a message the portal knows"


class TeleservicesNotConfigured(DomainError):
    code = "teleservices-not-configured"
    title = "The portal has no secret for the connected-car backend"
    kind = "unavailable"


class InboundReceipt(BaseModel):
    """What the portal did with an accepted message."""

    message_id: str
    kind: str
    items: list[str] = Field(description="The due items told to the car's tickets")
    service_partner: str | None = Field(
        description="The car's service partner whose tickets they are; None: no ticket opened "
        "(an unknown car, or one without a partner)"
    )


async def receive_message(
    resources: AppResources,
    headers: SignedHeaders,
    chunks: AsyncIterator[bytes],
    declared_length: int | None,
    source: str,
) -> InboundReceipt:
    """Verify, store once and process one signed message from the connected-car backend.

    Refusals (each with an audit line naming `source`, and nothing stored):
    `message-too-large`, `message-unsigned`, `message-signature-invalid`, `message-stale`,
    `message-invalid`, `message-replayed`.
    """
    settings = resources.settings
    try:
        return await _receive(resources, headers, chunks, declared_length)
    except DomainError as error:
        if not isinstance(error, TeleservicesNotConfigured):
            audit.warning(
                "inbound message refused: %s (webhook-id %r, from %s, max %d bytes)",
                error.code,
                (headers.message_id or "")[:100],
                source,
                settings.teleservice_message_max_bytes,
            )
        raise


async def _receive(
    resources: AppResources,
    headers: SignedHeaders,
    chunks: AsyncIterator[bytes],
    declared_length: int | None,
) -> InboundReceipt:
    settings = resources.settings
    limit = settings.teleservice_message_max_bytes
    too_large = MessageTooLarge(f"a message has at most {limit} bytes", max_bytes=limit)
    body = await read_bounded(chunks, declared_length, limit, too_large)
    try:
        secret = settings.teleservice_secret()
    except ValueError as error:
        raise TeleservicesNotConfigured("set AOS_TELESERVICE_WEBHOOK_SECRET") from error
    now = datetime.now(UTC)
    tolerance = timedelta(seconds=settings.teleservice_timestamp_tolerance_seconds)
    message_id = verify(secret, headers, body, now, tolerance)
    message = validated_body(_MESSAGE.validate_json, body, MessageInvalid)
    repository = TeleserviceRepository(resources.session_factory)
    stored = await repository.store_message(
        message_id, message.kind.value, message.vin, json.loads(body), now
    )
    if stored.processed:
        raise MessageReplayed(
            "this webhook-id was accepted and processed before; it is not processed again",
            field="webhook-id",
        )
    partner = await _process(resources, repository, message_id, message, now)
    await repository.mark_processed(message_id, datetime.now(UTC))
    return InboundReceipt(
        message_id=message_id,
        kind=message.kind.value,
        items=due_items(message) if partner else [],
        service_partner=partner,
    )


async def _process(
    resources: AppResources,
    repository: TeleserviceRepository,
    message_id: str,
    message: AnyCarMessage,
    now: datetime,
) -> str | None:
    settings, temporal = resources.settings, resources.temporal
    vin_search = settings.vin_search_value(message.vin)
    if isinstance(message, VehicleFactsReport):
        await repository.update_vehicle_facts(message, now)
        return None
    if isinstance(message, RemoteKeyData):
        handle = temporal.get_workflow_handle(remote_key_read_workflow_id(message.request_id))
        try:
            await handle.signal(
                KEY_RECEIVED_SIGNAL,
                KeyReceived(message_id=message_id, key=message.key, received_at=now),
            )
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # expired or cancelled: kept, unused
                raise
        return None
    if isinstance(message, ItemResolved):
        handle = temporal.get_workflow_handle(
            teleservice_ticket_workflow_id(vin_search, message.item)
        )
        try:
            await handle.signal(
                TicketSignal.ITEM_RESOLVED,
                ItemResolvedByCar(message_id=message_id, received_at=now),
            )
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # no open ticket: nothing to resolve
                raise
        return await repository.service_partner(message.vin)
    partner = await repository.service_partner(message.vin)
    if partner is None:
        return None  # kept in inbound_messages; no workshop to tell
    call = TicketCall(
        message_id=message_id, kind=message.kind, received_at=now, mileage_km=message.mileage_km
    )
    for item in due_items(message):
        await temporal.start_workflow(
            TELESERVICE_TICKET_WORKFLOW,
            TeleserviceTicketInput(
                ticket_id=f"tt-{uuid.uuid4().hex}",
                vin=message.vin,
                vin_search=vin_search,
                item=item,
                workshop_id=partner,
            ),
            id=teleservice_ticket_workflow_id(vin_search, item),
            task_queue=settings.portal_task_queue,
            # Open: the call is added to it. Closed: the item came due again, a new ticket.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal=TicketSignal.ADD_CALL,
            start_signal_args=[call],
            memo={search_attributes.VIN_MEMO: message.vin},
            search_attributes=search_attributes.workshop_scope(partner),
        )
    return partner


# --- the workshop's tickets ---------------------------------------------------------------------


async def update_open_flow(
    resources: AppResources,
    workflow_id: str,
    update: str,
    argument: object,
    result_type: type[Result],
    ended: DomainError,
) -> Result:
    """The update's answer; a validator's refusal raised as the domain error it carries, so
    the API and the console show it as they show any other; `ended` when the flow has ended
    (Temporal has no running workflow to update)."""
    handle = resources.temporal.get_workflow_handle(workflow_id)
    try:
        return await execute_update(handle, update, argument, result_type)
    except WorkflowUpdateFailedError as error:
        carried = domain_error_from(error)
        if carried is None:
            raise
        raise carried from error
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        raise ended from error


class TicketFilter(BaseModel):
    open_only: bool = False
    service_level: ServiceLevel | None = None
    vin: str | None = None


async def ensure_teleservice(resources: AppResources, caller: User, workshop_id: str) -> None:
    """Only a workshop with a valid `teleservice` ticket sees and acts on its tickets
    (`no-access`, `access-expired`); administrators always."""
    ensure_workshop_access(caller, workshop_id)
    if caller.role == Role.ADMINISTRATOR:
        return
    await AccessRepository(resources.session_factory).check_entitlement(
        workshop_id, Service.TELESERVICE, datetime.now(UTC)
    )


def rows_scope(caller: User) -> str | None:
    """The workshop whose tickets and requests the caller may read (None: any, for
    administrators); another workshop's row then answers as an unknown one."""
    return None if caller.role == Role.ADMINISTRATOR else caller.workshop_id or ""


def workshop_of(caller: User, workshop_id: str | None) -> str:
    chosen = workshop_id or caller.workshop_id
    if chosen is None:
        raise Forbidden("teleservice tickets are listed for a workshop: give workshop_id")
    return chosen


async def list_tickets(
    resources: AppResources, caller: User, workshop_id: str | None, filters: TicketFilter
) -> list[TeleserviceTicketRecord]:
    """The workshop's tickets, newest first; calls that arrived before it bought a ticket are
    among them."""
    chosen = workshop_of(caller, workshop_id)
    await ensure_teleservice(resources, caller, chosen)
    return list(
        await TeleserviceRepository(resources.session_factory).tickets(
            chosen,
            open_only=filters.open_only,
            service_level=filters.service_level,
            vin=filters.vin,
        )
    )


async def _ticket_of(
    resources: AppResources, caller: User, ticket_id: str
) -> TeleserviceTicketRecord:
    row = await TeleserviceRepository(resources.session_factory).ticket(
        ticket_id, rows_scope(caller)
    )
    await ensure_teleservice(resources, caller, row.workshop_id)
    return row


async def ticket_status(
    resources: AppResources, caller: User, ticket_id: str
) -> TeleserviceTicketStatus:
    """The ticket as its workflow has it now, calls included."""
    row = await _ticket_of(resources, caller, ticket_id)
    handle = resources.temporal.get_workflow_handle(row.workflow_id)
    try:
        status: TeleserviceTicketStatus = await handle.query(
            "status", result_type=TeleserviceTicketStatus
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise TicketNotFound("no teleservice ticket with this id") from error
        raise
    return status


async def _step(
    resources: AppResources, caller: User, ticket_id: str, update: TicketUpdate, argument: object
) -> TeleserviceTicketStatus:
    row = await _ticket_of(resources, caller, ticket_id)
    return await update_open_flow(
        resources,
        row.workflow_id,
        update,
        argument,
        TeleserviceTicketStatus,
        # The ticket's flow has ended (closed): no step applies any more.
        ended=TicketStepNotAllowed(
            f"the ticket is closed; it cannot take the step {update.value!r}", state="closed"
        ),
    )


async def acknowledge_ticket(
    resources: AppResources, caller: User, ticket_id: str
) -> TeleserviceTicketStatus:
    return await _step(
        resources,
        caller,
        ticket_id,
        TicketUpdate.ACKNOWLEDGE,
        AcknowledgeInput(acknowledged_by=caller.id),
    )


async def plan_ticket_appointment(
    resources: AppResources, caller: User, ticket_id: str, appointment_at: datetime
) -> TeleserviceTicketStatus:
    return await _step(
        resources,
        caller,
        ticket_id,
        TicketUpdate.PLAN_APPOINTMENT,
        PlanAppointmentInput(appointment_at=appointment_at, planned_by=caller.id),
    )


async def close_ticket(
    resources: AppResources, caller: User, ticket_id: str, reason: str
) -> TeleserviceTicketStatus:
    return await _step(
        resources,
        caller,
        ticket_id,
        TicketUpdate.CLOSE,
        CloseTicketInput(reason=reason, closed_by=caller.id),
    )


# --- the operators' demo data -------------------------------------------------------------------


class UnknownVehicleOrWorkshop(NotFound):
    code = "vehicle-or-workshop-not-found"
    title = "No such vehicle or workshop"


async def assign_service_partner(
    resources: AppResources, caller: User, vin: str, workshop_id: str | None
) -> None:
    """An operator sets the car's service partner (None: none)."""
    if caller.role != Role.ADMINISTRATOR:
        raise Forbidden("only portal administrators assign a car's service partner")
    found = await TeleserviceRepository(resources.session_factory).assign_service_partner(
        vin, workshop_id, datetime.now(UTC)
    )
    if not found:
        raise UnknownVehicleOrWorkshop("no vehicle with this VIN, or no workshop with this id")
