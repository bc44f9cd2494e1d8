"""Registration deadlines on the time-skipping server: 24 h to verify the email, a reminder to
reviewers after 2 days, abandonment after 14 days without a decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from contracts.registration import (
    RegistrationInput,
    RegistrationStatus,
    RegistrationUpdate,
    VerifyEmailInput,
    registration_workflow_id,
)
from db.accounts import AccountRepository
from db.models import OutboxMail, Registration
from domain.registration import Application
from settings import Settings
from tests.accounts_helpers import ADMIN_EMAIL, ADMIN_PASSWORD, APPLICATION, code_in, last_mail_to
from workflows.registration import RegistrationWorkflow


async def _start(
    env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> WorkflowHandle[RegistrationWorkflow, RegistrationStatus]:
    """As POST /registrations does: the row first, then the workflow."""
    application = Application(**APPLICATION)
    registration_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    async with session_factory() as session, session.begin():
        session.add(
            Registration(
                id=registration_id,
                state="submitted",
                is_open=True,
                fingerprint=application.fingerprint(),
                created_at=now,
                updated_at=now,
                **application.model_dump(),
            )
        )
    return await env.client.start_workflow(
        RegistrationWorkflow.run,
        RegistrationInput(registration_id=registration_id, application=application),
        id=registration_workflow_id(registration_id),
        task_queue=settings.portal_task_queue,
    )


async def _stored_state(session_factory: async_sessionmaker[AsyncSession], handle_id: str) -> str:
    async with session_factory() as session:
        registration = await session.get(Registration, handle_id.removeprefix("registration-"))
    assert registration is not None
    return registration.state


async def test_unverified_email_abandons_after_24_hours(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    handle = await _start(time_skipping_env, portal_on_time_skipping_server, session_factory)
    await time_skipping_env.sleep(timedelta(hours=23, minutes=59))
    assert (await handle.query(RegistrationWorkflow.status)).state == "submitted"
    outcome = await handle.result()
    assert outcome.state == "abandoned"
    assert await _stored_state(session_factory, handle.id) == "abandoned"
    async with session_factory() as session:
        registration = await session.get(Registration, outcome.registration_id)
    assert registration is not None and registration.is_open is False


async def test_reviewers_are_reminded_after_2_days_and_it_expires_after_14(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Reviewer"
    )
    handle = await _start(time_skipping_env, portal_on_time_skipping_server, session_factory)
    mail = await last_mail_to(session_factory, APPLICATION["contact_email"])
    await handle.execute_update(
        RegistrationUpdate.VERIFY_EMAIL,
        VerifyEmailInput(code=code_in(mail.body)),
        result_type=RegistrationStatus,
    )

    async def reminders() -> list[OutboxMail]:
        async with session_factory() as session:
            query = select(OutboxMail).where(OutboxMail.category == "review-reminder")
            return list((await session.scalars(query)).all())

    await time_skipping_env.sleep(timedelta(days=1, hours=23))
    assert (await handle.query(RegistrationWorkflow.status)).state == "under_review"
    assert await reminders() == []

    await time_skipping_env.sleep(timedelta(hours=2))
    sent = await reminders()
    assert [m.recipient for m in sent] == [ADMIN_EMAIL]
    assert (await handle.query(RegistrationWorkflow.status)).state == "under_review"

    outcome = await handle.result()  # the remaining 12 days pass without a decision
    assert outcome.state == "abandoned"
    assert outcome.decision_reason is None
    assert await _stored_state(session_factory, handle.id) == "abandoned"
