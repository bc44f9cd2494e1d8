"""The inbound endpoint of the connected-car backend, through the API on the dev server:
a signed Teleservice Call opens a ticket for the car's service partner; forged, unsigned,
stale, replayed and oversized messages are refused with their problem and an audit line, and
store nothing; a message delivered twice at once is processed once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.teleservices import TeleserviceRepository
from domain.accounts import Role
from domain.signed_messages import new_secret
from settings import Settings
from testkit.connected_car import INBOUND_PATH, signed, teleservice_call
from testkit.factories import SignedIn, sign_in
from tests.teleservices.conftest import (
    DEMO_VIN,
    Partner,
    assign_partner,
    eventually,
    seeded_cars,
    service_partner,
    stored_messages,
)


@pytest.fixture
async def operator(session_factory: async_sessionmaker[AsyncSession]) -> SignedIn:
    return await sign_in(session_factory, Role.ADMINISTRATOR)


@pytest.fixture
async def partner(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    operator: SignedIn,
) -> AsyncIterator[Partner]:
    await seeded_cars(session_factory)
    partner = await service_partner(session_factory)
    await assign_partner(api_client, operator, DEMO_VIN, partner.workshop_id)
    yield partner


async def _tickets(api: httpx.AsyncClient, who: SignedIn) -> list[dict[str, Any]]:
    answer = await api.get("/teleservice-tickets", headers=who.headers)
    assert answer.status_code == 200, answer.text
    tickets: list[dict[str, Any]] = answer.json()
    return tickets


async def test_a_signed_teleservice_call_opens_one_ticket_per_due_item_for_the_service_partner(
    api_client: httpx.AsyncClient, settings: Settings, partner: Partner
) -> None:
    body, headers = signed(
        settings.teleservice_secret(),
        teleservice_call(DEMO_VIN, ["engine_oil", "brake_fluid"], ok=["vehicle_check"]),
    )
    answer = await api_client.post(INBOUND_PATH, content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["items"] == ["brake_fluid", "engine_oil"]
    assert answer.json()["service_partner"] == partner.workshop_id

    tickets = await eventually(
        lambda: _tickets(api_client, partner.technician), lambda found: len(found) == 2
    )
    assert {(t["item"], t["state"], t["calls"], t["vin"]) for t in tickets} == {
        ("engine_oil", "new", 1, DEMO_VIN),
        ("brake_fluid", "new", 1, DEMO_VIN),
    }

    # The same item called again is added to its open ticket, not a second ticket.
    body, headers = signed(
        settings.teleservice_secret(), teleservice_call(DEMO_VIN, ["engine_oil"])
    )
    assert (await api_client.post(INBOUND_PATH, content=body, headers=headers)).status_code == 202
    tickets = await eventually(
        lambda: _tickets(api_client, partner.technician),
        lambda found: {t["item"]: t["calls"] for t in found} == {"engine_oil": 2, "brake_fluid": 1},
    )
    assert len(tickets) == 2


@pytest.mark.parametrize(
    ("case", "status", "problem"),
    [
        ("forged", 401, "message-signature-invalid"),
        ("unsigned", 401, "message-unsigned"),
        ("stale", 401, "message-stale"),
        ("from-the-future", 401, "message-stale"),
        ("oversized", 413, "message-too-large"),
        ("not-a-message", 422, "message-invalid"),
    ],
)
async def test_a_refused_message_answers_its_problem_logs_an_audit_line_and_stores_nothing(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    session_factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    case: str,
    status: int,
    problem: str,
) -> None:
    secret = settings.teleservice_secret()
    payload: dict[str, Any] | bytes = teleservice_call(DEMO_VIN, ["engine_oil"])
    at = datetime.now(UTC)
    if case == "forged":
        secret = new_secret()  # signed, but not with the portal's secret
    if case == "stale":
        at -= timedelta(seconds=settings.teleservice_timestamp_tolerance_seconds + 5)
    if case == "from-the-future":
        at += timedelta(seconds=settings.teleservice_timestamp_tolerance_seconds + 5)
    if case == "oversized":
        call = teleservice_call(DEMO_VIN, ["engine_oil"])
        call["padding"] = "x" * settings.teleservice_message_max_bytes
        payload = call
    if case == "not-a-message":
        payload = {"kind": "teleservice_call", "vin": "not a vin"}
    body, headers = signed(secret, payload, at=at)
    if case == "unsigned":
        headers = {"Content-Type": "application/json"}

    with caplog.at_level(logging.WARNING, logger="teleservices.audit"):
        answer = await api_client.post(INBOUND_PATH, content=body, headers=headers)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == f"/problems/{problem}"
    audited = [r.getMessage() for r in caplog.records if r.name == "teleservices.audit"]
    assert len(audited) == 1 and problem in audited[0], audited
    assert await stored_messages(session_factory) == 0
    await asyncio.sleep(0.5)  # a ticket would have been recorded by now
    assert await _tickets(api_client, partner.technician) == []


@pytest.mark.database
async def test_a_replayed_message_is_refused_and_not_processed_again(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    session_factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, headers = signed(
        settings.teleservice_secret(), teleservice_call(DEMO_VIN, ["engine_oil"])
    )
    first = await api_client.post(INBOUND_PATH, content=body, headers=headers)
    assert first.status_code == 202, first.text

    with caplog.at_level(logging.WARNING, logger="teleservices.audit"):
        again = await api_client.post(INBOUND_PATH, content=body, headers=headers)
    assert again.status_code == 409, again.text
    assert again.json()["type"] == "/problems/message-replayed"
    assert any("message-replayed" in r.getMessage() for r in caplog.records)

    assert await stored_messages(session_factory) == 1
    tickets = await eventually(
        lambda: _tickets(api_client, partner.technician), lambda found: len(found) == 1
    )
    await asyncio.sleep(0.5)
    assert [t["calls"] for t in await _tickets(api_client, partner.technician)] == [1]
    assert tickets[0]["item"] == "engine_oil"


@pytest.mark.database  # the store's unique webhook-id under concurrent inserts
async def test_the_same_message_delivered_twice_at_once_is_processed_once(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body, headers = signed(
        settings.teleservice_secret(), teleservice_call(DEMO_VIN, ["engine_oil"])
    )
    answers = await asyncio.gather(
        *(api_client.post(INBOUND_PATH, content=body, headers=headers) for _ in range(2))
    )
    # Either both are acknowledged (the second finished what the first stored) or the second
    # came after the first had finished and is a replay; never an error.
    assert sorted(a.status_code for a in answers) in ([202, 202], [202, 409]), [
        a.text for a in answers
    ]
    assert await stored_messages(session_factory) == 1
    tickets = await eventually(
        lambda: _tickets(api_client, partner.technician), lambda found: len(found) == 1
    )
    ticket = (
        await api_client.get(
            f"/teleservice-tickets/{tickets[0]['ticket_id']}", headers=partner.technician.headers
        )
    ).json()
    assert [call["message_id"] for call in ticket["calls"]] == [headers["webhook-id"]]


async def test_a_car_without_a_service_partner_is_kept_but_opens_no_ticket(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    operator: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await assign_partner(api_client, operator, DEMO_VIN, None)
    body, headers = signed(
        settings.teleservice_secret(), teleservice_call(DEMO_VIN, ["engine_oil"])
    )
    answer = await api_client.post(INBOUND_PATH, content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "message_id": headers["webhook-id"],
        "kind": "teleservice_call",
        "items": [],
        "service_partner": None,
    }
    assert await stored_messages(session_factory) == 1


@pytest.mark.database
async def test_a_message_stored_but_not_processed_before_a_crash_is_finished_when_redelivered(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    payload = teleservice_call(DEMO_VIN, ["engine_oil"])
    body, headers = signed(settings.teleservice_secret(), payload)
    # The portal stored it, then died before telling the ticket (as store_message leaves it).
    stored = await TeleserviceRepository(session_factory).store_message(
        headers["webhook-id"], "teleservice_call", DEMO_VIN, payload, datetime.now(UTC)
    )
    assert stored.new and not stored.processed

    # The backend had no answer, so it delivers again: processed now, and only now.
    again = await api_client.post(INBOUND_PATH, content=body, headers=headers)
    assert again.status_code == 202, again.text
    tickets = await eventually(
        lambda: _tickets(api_client, partner.technician), lambda found: len(found) == 1
    )
    assert tickets[0]["calls"] == 1
    assert await stored_messages(session_factory) == 1
    third = await api_client.post(INBOUND_PATH, content=body, headers=headers)
    assert third.status_code == 409
