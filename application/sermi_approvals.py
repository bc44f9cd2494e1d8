"""SERMI approvals: the use cases behind `/admin/sermi-approvals`. An administrator records a
person's approval from its certificate (reference, expiry) and revokes it; the approval's flow
sends the notice before expiry and records the end."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from application.authorization import ensure_administrator
from application.resources import AppResources
from contracts.search_attributes import workshop_scope
from contracts.technical_information import (
    SERMI_APPROVAL_WORKFLOW,
    SermiApprovalInput,
    SermiSignal,
    sermi_approval_workflow_id,
)
from contracts.technical_information import SermiRevocation as SermiRevocationSignal
from db.engine import reading
from db.models import SermiApproval, User
from db.sermi_approvals import SermiApprovalRepository
from domain.accounts import Role
from domain.errors import NotFound
from domain.languages import language_or_default
from domain.technical_information import (
    InvalidSermiApproval,
    check_sermi_expiry,
)


class PersonNotFound(NotFound):
    code = "person-not-found"
    title = "No such person"


class SermiApprovalView(BaseModel):
    approval_id: str
    user_id: str
    certificate_reference: str
    expires_at: datetime
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    active: bool


def sermi_view(row: SermiApproval, at: datetime | None = None) -> SermiApprovalView:
    moment = at or datetime.now(UTC)
    return SermiApprovalView(
        approval_id=row.id,
        user_id=row.user_id,
        certificate_reference=row.certificate_reference,
        expires_at=row.expires_at,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        active=row.revoked_at is None and row.expires_at > moment,
    )


async def _person(resources: AppResources, user_id: str) -> User:
    async with reading(resources.session_factory) as session:
        person = await session.scalar(select(User).where(User.id == user_id))
    if person is None:
        raise PersonNotFound(f"no person {user_id}", field="user_id")
    return person


async def record_sermi_approval(
    resources: AppResources,
    caller: User,
    *,
    user_id: str,
    certificate_reference: str,
    expires_at: datetime,
) -> SermiApprovalView:
    """An administrator records a person's SERMI approval from its certificate. The person
    reads security-related documents until it expires or is revoked."""
    ensure_administrator(caller)
    now = datetime.now(UTC)
    person = await _person(resources, user_id)
    if person.role == Role.ADMINISTRATOR:
        raise InvalidSermiApproval(
            "SERMI approvals are for workshop staff; administrators read everything",
            field="user_id",
        )
    check_sermi_expiry(expires_at, now)
    row = await SermiApprovalRepository(resources.session_factory).record_sermi_approval(
        user_id, certificate_reference, expires_at, caller.id, now
    )
    # The approval's clock: the notice 30 days before, the recorded end at expiry.
    await resources.temporal.start_workflow(
        SERMI_APPROVAL_WORKFLOW,
        SermiApprovalInput(
            approval_id=row.id,
            user_id=user_id,
            workshop_id=person.workshop_id,
            recipient=person.email,
            certificate_reference=certificate_reference,
            expires_at=expires_at,
            language=language_or_default(person.language),
        ),
        id=sermi_approval_workflow_id(row.id),
        task_queue=resources.settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # An approval belongs to a person; a person of a workshop is found under it as well.
        search_attributes=workshop_scope(person.workshop_id) if person.workshop_id else None,
    )
    return sermi_view(row, now)


async def list_sermi_approvals(
    resources: AppResources, caller: User, *, user_id: str | None = None
) -> list[SermiApprovalView]:
    ensure_administrator(caller)
    now = datetime.now(UTC)
    return [
        sermi_view(row, now)
        for row in await SermiApprovalRepository(resources.session_factory).sermi_approvals(user_id)
    ]


async def revoke_sermi_approval(
    resources: AppResources, caller: User, approval_id: str, *, reason: str
) -> SermiApprovalView:
    """Ends an approval now (a revoked one stays revoked with its first reason)."""
    ensure_administrator(caller)
    repository = SermiApprovalRepository(resources.session_factory)
    await repository.sermi_approval(approval_id)
    await repository.revoke_sermi_approval(approval_id, reason, datetime.now(UTC))
    # The record ends access at once; the approval's flow stops its clock (an approval that
    # expired already has no running flow to tell).
    with contextlib.suppress(RPCError):
        await resources.temporal.get_workflow_handle(
            sermi_approval_workflow_id(approval_id)
        ).signal(SermiSignal.REVOKED, SermiRevocationSignal(reason=reason))
    return sermi_view(await repository.sermi_approval(approval_id))
