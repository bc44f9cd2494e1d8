"""The technical information API on SQLite and PostgreSQL: search open to every signed-in
person, reading behind the `technical_information` ticket, the SERMI rule for
security-related documents, the reading history and the SERMI approvals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from contracts.technical_information import (
    DocumentPublishingStatus,
    SermiApprovalStatus,
    document_publishing_workflow_id,
    sermi_approval_workflow_id,
)
from db.seed import seed_demo_vehicles
from db.technical_information_seed import seed_technical_information
from domain.accounts import Role
from domain.catalogue import Service
from settings import Settings
from testkit.factories import SignedIn, create_workshop, grant_ticket, sign_in

pytestmark = pytest.mark.database

DEMO_VIN = "WBA8E5105FK731548"  # a 320d (F30, 8E51) built on 12 March 2015
DOCUMENTS = "/technical-information/documents"


@pytest.fixture
async def seeded(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo_vehicles(session_factory)
    await seed_technical_information(session_factory)


async def _technician(
    session_factory: async_sessionmaker[AsyncSession], *, ticket: bool
) -> SignedIn:
    workshop_id = await create_workshop(session_factory)
    if ticket:
        now = datetime.now(UTC)
        await grant_ticket(
            session_factory,
            workshop_id,
            now - timedelta(minutes=1),
            now + timedelta(days=1),
            Service.TECHNICAL_INFORMATION,
        )
    return await sign_in(session_factory, Role.TECHNICIAN, workshop_id)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{code}"
    return body


async def test_search_is_open_to_every_signed_in_person_and_snippets_need_a_ticket(
    api_client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    seeded: None,
) -> None:
    assert (await api_client.get(DOCUMENTS, params={"q": "brake"})).status_code == 401
    without = await _technician(session_factory, ticket=False)
    with_ticket = await _technician(session_factory, ticket=True)
    params = {"q": "timing chain", "vin": DEMO_VIN}

    answer = (await api_client.get(DOCUMENTS, params=params, headers=without.headers)).json()
    assert answer["may_read"] is False
    assert answer["vehicle"]["type_code"] == "8E51" and answer["vehicle"]["series"] == "F30"
    assert [hit["document_id"] for hit in answer["results"]] == ["RI-F30-1132", "FC-F30-2A82"]
    assert all(hit["snippet"] is None for hit in answer["results"])

    answer = (await api_client.get(DOCUMENTS, params=params, headers=with_ticket.headers)).json()
    assert answer["may_read"] is True
    first = answer["results"][0]
    assert first["title"] == "Replace the timing chain (F30 320d from 01/2015)"
    assert {part["text"].lower() for part in first["snippet"] if part["highlighted"]} <= {
        "timing",
        "chain",
    }

    dutch = await api_client.get(
        DOCUMENTS,
        params={"q": "distributieketting", "vin": DEMO_VIN, "language": "nl"},
        headers=with_ticket.headers,
    )
    assert dutch.json()["results"][0]["title"].startswith("Distributieketting vervangen")

    diagrams = await api_client.get(
        DOCUMENTS,
        params={"vin": DEMO_VIN, "doc_type": "wiring_diagram", "system_group": "lighting"},
        headers=with_ticket.headers,
    )
    assert [hit["document_id"] for hit in diagrams.json()["results"]] == ["WD-F30-6301"]

    _problem(
        await api_client.get(
            DOCUMENTS, params={"vin": "WBA8E5105FK73154I"}, headers=without.headers
        ),
        422,
        "invalid-vin",
    )
    _problem(
        await api_client.get(
            DOCUMENTS, params={"vin": "WBA00000000000000"}, headers=without.headers
        ),
        404,
        "vehicle-not-found",
    )
    too_long = await api_client.get(DOCUMENTS, params={"q": "x" * 201}, headers=without.headers)
    assert too_long.status_code == 422


async def test_reading_needs_the_ticket_and_is_recorded_for_the_workshop(
    api_client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    seeded: None,
) -> None:
    without = await _technician(session_factory, ticket=False)
    reader = await _technician(session_factory, ticket=True)
    document = f"{DOCUMENTS}/RI-F30-3411"

    body = _problem(await api_client.get(document, headers=without.headers), 403, "no-access")
    assert "purchase" in body

    current = await api_client.get(document, headers=reader.headers)
    assert current.status_code == 200, current.text
    assert current.json()["version"]["version"] == 2
    assert current.json()["languages"] == ["en", "nl"]
    old = (
        await api_client.get(
            document, params={"version": 1, "language": "nl"}, headers=reader.headers
        )
    ).json()
    assert old["version"]["state"] == "superseded"
    assert old["version"]["superseded_by_version"] == 2 and old["current_version"] == 2
    assert old["language"] == "nl"
    versions = (await api_client.get(f"{document}/versions", headers=reader.headers)).json()
    assert [(v["version"], v["state"]) for v in versions] == [(2, "published"), (1, "superseded")]

    diagram = (await api_client.get(f"{DOCUMENTS}/WD-F30-6101", headers=reader.headers)).json()
    assert diagram["svg"].startswith("<svg") and "<script" not in diagram["svg"]

    _problem(
        await api_client.get(f"{DOCUMENTS}/RI-NONE-0000", headers=reader.headers),
        404,
        "document-not-found",
    )
    _problem(
        await api_client.get(document, params={"version": 9}, headers=reader.headers),
        404,
        "document-version-not-found",
    )

    history = await api_client.get(
        f"/workshops/{reader.workshop_id}/technical-information/reading-history",
        headers=reader.headers,
    )
    views = history.json()["views"]
    assert history.json()["total"] == 3
    assert [(v["document_id"], v["version"], v["language"]) for v in views] == [
        ("WD-F30-6101", 1, "en"),
        ("RI-F30-3411", 1, "nl"),
        ("RI-F30-3411", 2, "en"),
    ]
    assert views[1]["title"].startswith("Remblokken") and views[0]["user_id"] == reader.user_id

    # Another workshop's history answers like an unknown workshop.
    for workshop_id in (reader.workshop_id, "ws-unknown"):
        _problem(
            await api_client.get(
                f"/workshops/{workshop_id}/technical-information/reading-history",
                headers=without.headers,
            ),
            404,
            "not-found",
        )

    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    usage = await api_client.get("/admin/technical-information/usage", headers=admin.headers)
    assert usage.json()[0] == {"document_id": "RI-F30-3411", "views": 2, "workshops": 1}
    forbidden = await api_client.get("/admin/technical-information/usage", headers=reader.headers)
    assert forbidden.status_code == 403


async def test_security_documents_need_the_persons_sermi_approval(
    api_client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    seeded: None,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
) -> None:
    reader = await _technician(session_factory, ticket=True)
    colleague = await sign_in(session_factory, Role.TECHNICIAN, reader.workshop_id)
    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    key_programming = f"{DOCUMENTS}/RI-F30-6621"

    refusal = _problem(
        await api_client.get(key_programming, headers=reader.headers),
        403,
        "sermi-approval-required",
    )
    assert refusal["document_title"] == "Add a vehicle key and program it (F30)"
    assert "body" not in refusal and "svg" not in refusal
    # The title is found by search; the text is not shown without the approval.
    hits = (
        await api_client.get(
            DOCUMENTS, params={"q": "key programming", "vin": DEMO_VIN}, headers=reader.headers
        )
    ).json()["results"]
    assert [(h["document_id"], h["snippet"]) for h in hits] == [("RI-F30-6621", None)]

    request = {
        "user_id": reader.user_id,
        "certificate_reference": "SERMI-NL-2026-0042",
        "expires_at": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
    }
    refused = await api_client.post("/admin/sermi-approvals", json=request, headers=reader.headers)
    assert refused.status_code == 403
    created = await api_client.post("/admin/sermi-approvals", json=request, headers=admin.headers)
    assert created.status_code == 201, created.text
    approval = created.json()
    assert approval["active"] is True and approval["recorded_by"] == admin.user_id

    assert (await api_client.get(key_programming, headers=reader.headers)).status_code == 200
    # The approval is the person's, not the workshop's.
    _problem(
        await api_client.get(key_programming, headers=colleague.headers),
        403,
        "sermi-approval-required",
    )

    revoked = await api_client.post(
        f"/admin/sermi-approvals/{approval['approval_id']}/revocation",
        json={"reason": "certificate withdrawn"},
        headers=admin.headers,
    )
    assert revoked.json()["active"] is False
    flow = dev_env.client.get_workflow_handle(
        sermi_approval_workflow_id(approval["approval_id"]), result_type=SermiApprovalStatus
    )
    assert (await flow.result()).state == "revoked"
    _problem(
        await api_client.get(key_programming, headers=reader.headers),
        403,
        "sermi-approval-required",
    )

    past = {**request, "expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    _problem(
        await api_client.post("/admin/sermi-approvals", json=past, headers=admin.headers),
        422,
        "invalid-sermi-approval",
    )
    _problem(
        await api_client.post(
            "/admin/sermi-approvals", json={**request, "user_id": "nobody"}, headers=admin.headers
        ),
        404,
        "person-not-found",
    )
    listed = await api_client.get(
        "/admin/sermi-approvals", params={"user_id": reader.user_id}, headers=admin.headers
    )
    assert [a["approval_id"] for a in listed.json()] == [approval["approval_id"]]


async def test_administrators_publish_a_document_through_review(
    api_client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    seeded: None,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
) -> None:
    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    reader = await _technician(session_factory, ticket=True)
    draft = {
        "document_id": "RI-G05-3451",
        "doc_type": "repair_instruction",
        "system_group": "brakes",
        "applicability": [{"series": "G05"}],
        "texts": [
            {
                "language": "en",
                "title": "Bleed the brake system (G05)",
                "body": "1. Connect the bleeding unit at 2 bar.\n2. Bleed screws 7 Nm.",
            }
        ],
    }
    admin_path = "/admin/technical-information/documents"
    assert (
        await api_client.post(admin_path, json=draft, headers=reader.headers)
    ).status_code == 403
    created = await api_client.post(admin_path, json=draft, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "draft"
    _problem(
        await api_client.post(admin_path, json=draft, headers=admin.headers), 409, "document-exists"
    )
    steps = f"{admin_path}/RI-G05-3451/versions/1"
    _problem(
        await api_client.post(f"{steps}/publish", json={}, headers=admin.headers),
        409,
        "wrong-document-version-state",
    )
    # Unpublished, it is nobody's to read.
    _problem(
        await api_client.get(f"{DOCUMENTS}/RI-G05-3451", headers=reader.headers),
        404,
        "document-not-found",
    )
    for step, state in (("submit_for_review", "review"), ("publish", "published")):
        moved = await api_client.post(f"{steps}/{step}", json={}, headers=admin.headers)
        assert moved.status_code == 200, moved.text
        assert moved.json()["state"] == state
    assert moved.json()["workshops_notified"] is None  # a repair instruction mails nobody
    readable = await api_client.get(f"{DOCUMENTS}/RI-G05-3451", headers=reader.headers)
    assert readable.json()["title"] == "Bleed the brake system (G05)"
    _problem(
        await api_client.post(
            f"{admin_path}/RI-G05-3451/versions/7/publish", json={}, headers=admin.headers
        ),
        404,
        "document-version-not-found",
    )

    withdrawn = await api_client.post(f"{steps}/withdraw", json={}, headers=admin.headers)
    assert withdrawn.json()["state"] == "withdrawn"
    flow = dev_env.client.get_workflow_handle(
        document_publishing_workflow_id("RI-G05-3451", 1), result_type=DocumentPublishingStatus
    )
    assert (await flow.result()).state == "withdrawn"
    _problem(
        await api_client.get(f"{DOCUMENTS}/RI-G05-3451", headers=reader.headers),
        404,
        "document-not-found",
    )
