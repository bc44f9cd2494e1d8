"""Remote key reads: a workshop asks a connected car for its key data (with the owner's consent
where needed), follows the request and cancels it. The car's answer arrives as a teleservice
message (`application.teleservices`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from application.resources import AppResources
from application.teleservices import ensure_teleservice, rows_scope, update_open_flow, workshop_of
from contracts import search_attributes
from contracts.remote_key_reads import (
    CANCEL_UPDATE,
    REMOTE_KEY_READ_WORKFLOW,
    CancelInput,
    RemoteKeyReadInput,
    RemoteKeyReadStatus,
    remote_key_read_workflow_id,
)
from db.models import RemoteKeyReadRequest, User
from db.teleservices import TeleserviceRepository
from domain.errors import Forbidden
from domain.remote_key_reads import RemoteKeyReadNotOpen, check_remote_key_read
from domain.service_history import check_consent


class OwnerConsent(BaseModel):
    """The owner's consent, recorded as for a service-booklet entry."""

    confirmed: bool
    consent_text_version: str = Field(max_length=40)


async def request_remote_key_read(
    resources: AppResources, caller: User, vin: str, owner_consent: OwnerConsent | None
) -> RemoteKeyReadStatus:
    """Ask the car for its key data: refused as not capable, no contract or no right (the
    teleservice ticket as `no-access`); otherwise a RemoteKeyReadWorkflow waits for the car."""
    workshop_id = caller.workshop_id
    if workshop_id is None:
        raise Forbidden("a remote key read is requested by a workshop")
    await ensure_teleservice(resources, caller, workshop_id)
    repository = TeleserviceRepository(resources.session_factory)
    vehicle = await repository.vehicle(vin)
    if owner_consent is not None:
        check_consent(owner_consent.confirmed, owner_consent.consent_text_version)
    check_remote_key_read(
        capable=vehicle.remote_key_read_eligible,
        contract=vehicle.connected_drive_contract,
        service_partner=vehicle.service_partner_id == workshop_id,
        owner_consent=owner_consent is not None,
    )
    settings = resources.settings
    request_id = uuid.uuid4().hex
    handle = await resources.temporal.start_workflow(
        REMOTE_KEY_READ_WORKFLOW,
        RemoteKeyReadInput(
            request_id=request_id,
            workshop_id=workshop_id,
            vin=vin,
            vin_search=settings.vin_search_value(vin),
            requested_by=caller.id,
            deadline_seconds=settings.remote_key_read_deadline_seconds,
            owner_consent_version=owner_consent.consent_text_version if owner_consent else None,
        ),
        id=remote_key_read_workflow_id(request_id),
        task_queue=settings.portal_task_queue,
        memo={search_attributes.VIN_MEMO: vin},
        search_attributes=search_attributes.workshop_scope(workshop_id),
    )
    status: RemoteKeyReadStatus = await handle.query("status", result_type=RemoteKeyReadStatus)
    return status


async def list_remote_key_reads(
    resources: AppResources, caller: User, workshop_id: str | None
) -> list[RemoteKeyReadRequest]:
    """The workshop's requests with their states, newest first."""
    chosen = workshop_of(caller, workshop_id)
    await ensure_teleservice(resources, caller, chosen)
    return list(await TeleserviceRepository(resources.session_factory).remote_requests(chosen))


def request_age(row: RemoteKeyReadRequest, now: datetime) -> timedelta:
    """How long the request waited for the car: until it ended, or until `now` while open."""
    return (row.ended_at or now) - row.requested_at


async def remote_key_read_status(
    resources: AppResources, caller: User, request_id: str
) -> RemoteKeyReadStatus:
    row = await _remote_request_of(resources, caller, request_id)
    handle = resources.temporal.get_workflow_handle(row.workflow_id)
    status: RemoteKeyReadStatus = await handle.query("status", result_type=RemoteKeyReadStatus)
    return status


async def cancel_remote_key_read(
    resources: AppResources, caller: User, request_id: str
) -> RemoteKeyReadStatus:
    """The workshop no longer waits for the car (`remote-key-read-not-open` once it ended)."""
    row = await _remote_request_of(resources, caller, request_id)
    status = await update_open_flow(
        resources,
        row.workflow_id,
        CANCEL_UPDATE,
        CancelInput(cancelled_by=caller.id),
        RemoteKeyReadStatus,
        # The flow has ended (received, expired or cancelled): nothing waits any more.
        ended=RemoteKeyReadNotOpen("the request no longer waits for the car", state=row.state),
    )
    # The list reads the table, which the flow's own record activity updates a moment later:
    # write the answer now too (the same row, the same values), so the workshop's next look
    # already says cancelled. Safe only because the state is final: the flow's later write
    # says the same, where an earlier state could overwrite a newer one.
    await TeleserviceRepository(resources.session_factory).record_remote_request(
        status, datetime.now(UTC)
    )
    return status


async def _remote_request_of(
    resources: AppResources, caller: User, request_id: str
) -> RemoteKeyReadRequest:
    row = await TeleserviceRepository(resources.session_factory).remote_request(
        request_id, rows_scope(caller)
    )
    await ensure_teleservice(resources, caller, row.workshop_id)
    return row
