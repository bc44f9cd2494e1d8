"""The technical-information flows on the time-skipping server: a SERMI approval mails its
person 30 days before it expires and ends access at expiry (or at a revocation); publishing a
service bulletin goes draft → review → published, mails the workshops that serviced an
affected vehicle in the last 12 months, and a newer version supersedes it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from application.document_publishing import (
    DocumentDraft,
    VersionDraft,
    draft_document,
    draft_version,
    move_document_version,
)
from application.resources import AppResources
from application.sermi_approvals import record_sermi_approval, revoke_sermi_approval
from application.technical_information import read_document, search_documents
from contracts.errors import domain_error_from_failure
from contracts.technical_information import (
    PUBLISHING_STATUS_QUERY,
    SERMI_STATUS_QUERY,
    DocumentPublishingStatus,
    PublishingUpdate,
    SermiApprovalStatus,
    document_publishing_workflow_id,
    sermi_approval_workflow_id,
)
from db.models import OutboxMail, SermiApproval, ServiceEntry, User, Workshop
from db.seed import seed_demo_vehicles
from db.technical_information import TechnicalInformationRepository
from db.technical_information_seed import seed_technical_information
from domain.accounts import Role
from domain.catalogue import Service
from domain.technical_information import Language, SermiApprovalRequired
from settings import Settings
from testkit.factories import create_workshop, grant_ticket, sign_in

pytestmark = pytest.mark.database

F30_CAR = "WBA8E5105FK731548"  # 320d, F30 8E51, built 2015-03-12
G30_CAR = "WBAJA5105HG402917"  # 530i, G30


def _resources(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], env: WorkflowEnvironment
) -> AppResources:
    return AppResources(settings, session_factory.kw["bind"], session_factory, env.client)


async def _user(session_factory: async_sessionmaker[AsyncSession], user_id: str) -> User:
    async with session_factory() as session:
        user = await session.get(User, user_id)
    assert user is not None
    return user


async def _mails(session_factory: async_sessionmaker[AsyncSession]) -> list[OutboxMail]:
    async with session_factory() as session:
        return list(await session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


async def test_a_sermi_approval_is_announced_30_days_ahead_and_ends_at_expiry(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed_technical_information(session_factory)
    resources = _resources(portal_on_time_skipping_server, session_factory, time_skipping_env)
    workshop = await create_workshop(session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, workshop, now, now + timedelta(days=3650), Service.TECHNICAL_INFORMATION
    )
    technician = await _user(
        session_factory, (await sign_in(session_factory, Role.TECHNICIAN, workshop)).user_id
    )
    admin = await _user(
        session_factory, (await sign_in(session_factory, Role.ADMINISTRATOR)).user_id
    )
    expires_at = (await time_skipping_env.get_current_time()) + timedelta(days=40)

    approval = await record_sermi_approval(
        resources,
        admin,
        user_id=technician.id,
        certificate_reference="SERMI-NL-2026-0042",
        expires_at=expires_at,
    )
    handle = time_skipping_env.client.get_workflow_handle(
        sermi_approval_workflow_id(approval.approval_id), result_type=SermiApprovalStatus
    )
    status = await handle.query(SERMI_STATUS_QUERY, result_type=SermiApprovalStatus)
    assert (status.state, status.notice_sent) == ("active", False)
    assert (await read_document(resources, technician, "RI-F30-6621")).security_related

    await time_skipping_env.sleep(timedelta(days=11))  # past 30 days before the expiry
    status = await handle.query(SERMI_STATUS_QUERY, result_type=SermiApprovalStatus)
    assert (status.state, status.notice_sent) == ("expiring", True)
    [notice] = [m for m in await _mails(session_factory) if m.recipient == technician.email]
    assert notice.subject == "Your SERMI approval expires soon"
    assert "SERMI-NL-2026-0042" in notice.body
    assert f"expires at {expires_at.astimezone(UTC):%-d %B %Y, %H:%M} UTC." in notice.body
    await read_document(resources, technician, "RI-F30-6621")  # still approved

    await time_skipping_env.sleep(timedelta(days=30))  # past the expiry
    result = await handle.result()
    assert result.state == "expired"
    async with session_factory() as session:
        row = await session.get(SermiApproval, approval.approval_id)
    assert row is not None and row.revoked_reason == "expired"
    assert row.revoked_at == expires_at
    subjects = [m.subject for m in await _mails(session_factory) if m.recipient == technician.email]
    assert subjects == ["Your SERMI approval expires soon", "Your SERMI approval has expired"]
    with pytest.raises(SermiApprovalRequired):
        await read_document(resources, technician, "RI-F30-6621")


async def test_a_revoked_approval_ends_its_flow_without_notices(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    resources = _resources(portal_on_time_skipping_server, session_factory, time_skipping_env)
    workshop = await create_workshop(session_factory)
    technician = await _user(
        session_factory, (await sign_in(session_factory, Role.TECHNICIAN, workshop)).user_id
    )
    admin = await _user(
        session_factory, (await sign_in(session_factory, Role.ADMINISTRATOR)).user_id
    )
    approval = await record_sermi_approval(
        resources,
        admin,
        user_id=technician.id,
        certificate_reference="SERMI-NL-2026-0077",
        expires_at=datetime.now(UTC) + timedelta(days=200),
    )
    revoked = await revoke_sermi_approval(
        resources, admin, approval.approval_id, reason="certificate withdrawn"
    )
    assert revoked.active is False
    handle = time_skipping_env.client.get_workflow_handle(
        sermi_approval_workflow_id(approval.approval_id), result_type=SermiApprovalStatus
    )
    assert (await handle.result()).state == "revoked"
    assert [m for m in await _mails(session_factory) if m.recipient == technician.email] == []


async def _serviced(
    session_factory: async_sessionmaker[AsyncSession], workshop_id: str, vin: str, on: date
) -> None:
    now = datetime.now(UTC)
    async with session_factory() as session, session.begin():
        session.add(
            ServiceEntry(
                id=f"entry-{uuid.uuid4().hex[:12]}",
                vin=vin,
                workshop_id=workshop_id,
                station_id=None,
                kind="maintenance",
                source="manual",
                service_date=on,
                mileage_km=100_000,
                previous_mileage_km=99_000,
                odometer_exchanged=False,
                remark="",
                cbs_items=[],
                consent_confirmed_by="test",
                consent_confirmed_at=now,
                consent_text_version="test",
                created_by="test",
                created_at=now,
                written_to_vehicle_at=None,
            )
        )


async def _contact(session_factory: async_sessionmaker[AsyncSession], workshop_id: str) -> str:
    async with session_factory() as session:
        workshop = await session.get(Workshop, workshop_id)
    assert workshop is not None
    return workshop.contact_email


async def test_publishing_a_bulletin_mails_the_workshops_that_serviced_an_affected_car(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed_demo_vehicles(session_factory)
    await seed_technical_information(session_factory)
    resources = _resources(portal_on_time_skipping_server, session_factory, time_skipping_env)
    admin = await _user(
        session_factory, (await sign_in(session_factory, Role.ADMINISTRATOR)).user_id
    )
    today = (await time_skipping_env.get_current_time()).date()
    recent = await create_workshop(session_factory, "Recent")
    long_ago = await create_workshop(session_factory, "Long ago")
    other_car = await create_workshop(session_factory, "Other car")
    await _serviced(session_factory, recent, F30_CAR, today - timedelta(days=60))
    await _serviced(session_factory, long_ago, F30_CAR, today - timedelta(days=420))
    await _serviced(session_factory, other_car, G30_CAR, today - timedelta(days=30))

    status = await draft_document(
        resources,
        admin,
        DocumentDraft.model_validate(
            {
                "document_id": "SIB-F30-1305",
                "doc_type": "service_bulletin",
                "system_group": "fuel",
                "applicability": [{"series": "F30", "type_code": "8E51"}],
                "texts": [
                    {
                        "language": "en",
                        "title": "Fuel smell after refuelling: replace the filler neck seal",
                        "body": "Replace the seal 16 11 7 222 391; clamp 3 Nm.",
                    },
                    {
                        "language": "nl",
                        "title": "Brandstofgeur na tanken: afdichting vulhals vervangen",
                        "body": "Afdichting 16 11 7 222 391 vervangen; klem 3 Nm.",
                    },
                ],
            }
        ),
    )
    assert status.state == "draft"
    # A draft is nobody's to find yet.
    found = await search_documents(resources, admin, query="filler neck seal")
    assert found.total == 0
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await move_document_version(resources, admin, "SIB-F30-1305", 1, PublishingUpdate.PUBLISH)
    error = domain_error_from_failure(refused.value)
    assert error is not None and error.code == "wrong-document-version-state"

    await move_document_version(
        resources, admin, "SIB-F30-1305", 1, PublishingUpdate.SUBMIT_FOR_REVIEW
    )
    published = await move_document_version(
        resources, admin, "SIB-F30-1305", 1, PublishingUpdate.PUBLISH
    )
    assert (published.state, published.workshops_notified) == ("published", 1)
    mails = [m for m in await _mails(session_factory) if m.category == "technical-information"]
    assert [m.recipient for m in mails] == [await _contact(session_factory, recent)]
    assert "SIB-F30-1305" in mails[0].body and "filler neck seal" in mails[0].subject
    found = await search_documents(resources, admin, query="filler neck seal", vin=F30_CAR)
    assert [hit.document_id for hit in found.results] == ["SIB-F30-1305"]

    # Version 2 supersedes version 1: the first flow ends, its text stays readable.
    await draft_version(
        resources,
        admin,
        "SIB-F30-1305",
        VersionDraft.model_validate(
            {
                "change_note": "New seal with a second lip",
                "texts": [
                    {
                        "language": "en",
                        "title": "Fuel smell after refuelling: replace the filler neck seal",
                        "body": "Replace the seal 16 11 7 222 392 (two lips); clamp 3 Nm.",
                    }
                ],
            }
        ),
    )
    for step in (PublishingUpdate.SUBMIT_FOR_REVIEW, PublishingUpdate.PUBLISH):
        second = await move_document_version(resources, admin, "SIB-F30-1305", 2, step)
    assert (second.superseded_version, second.workshops_notified) == (1, 1)
    first = time_skipping_env.client.get_workflow_handle(
        document_publishing_workflow_id("SIB-F30-1305", 1), result_type=DocumentPublishingStatus
    )
    assert (await first.result()).state == "superseded"
    repository = TechnicalInformationRepository(session_factory)
    old = await repository.content("SIB-F30-1305", 1, Language.EN)
    assert (old.version.state, old.current_version) == ("superseded", 2)

    withdrawn = await move_document_version(
        resources, admin, "SIB-F30-1305", 2, PublishingUpdate.WITHDRAW
    )
    assert withdrawn.state == "withdrawn"
    second_flow = time_skipping_env.client.get_workflow_handle(
        document_publishing_workflow_id("SIB-F30-1305", 2)
    )
    status_now = await second_flow.query(
        PUBLISHING_STATUS_QUERY, result_type=DocumentPublishingStatus
    )
    assert status_now.state == "withdrawn"
    assert (await search_documents(resources, admin, query="filler neck seal")).total == 0
