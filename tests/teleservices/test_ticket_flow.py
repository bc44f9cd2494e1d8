"""Teleservice tickets through the API on the dev server: a ticket is acknowledged, gets an
appointment and is closed by a service entry of the booklet (the ServiceEntryWorkflow signals
the ticket: the cross-flow link); closed by hand with a reason; closed when the car reports the
item resolved; seen only by its workshop while it has a teleservice ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from domain import teleservices as ticket_rules
from domain.accounts import Role
from domain.catalogue import Service
from domain.service_history import CONSENT_TEXT_VERSION
from settings import Settings
from testkit.connected_car import INBOUND_PATH, signed, teleservice_call
from testkit.factories import SignedIn, grant_ticket, sign_in
from tests.teleservices.conftest import (
    DEMO_VIN,
    Partner,
    assign_partner,
    eventually,
    seeded_cars,
    service_partner,
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


async def _send(api: httpx.AsyncClient, settings: Settings, payload: dict[str, Any]) -> None:
    body, headers = signed(settings.teleservice_secret(), payload)
    answer = await api.post(INBOUND_PATH, content=body, headers=headers)
    assert answer.status_code == 202, answer.text


async def _listed(api: httpx.AsyncClient, who: SignedIn, **filters: str) -> list[dict[str, Any]]:
    answer = await api.get("/teleservice-tickets", params=filters, headers=who.headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def _one_ticket(api: httpx.AsyncClient, who: SignedIn, item: str) -> dict[str, Any]:
    tickets = await eventually(
        lambda: _listed(api, who), lambda found: any(t["item"] == item for t in found)
    )
    return next(t for t in tickets if t["item"] == item)


async def _service_entry(api: httpx.AsyncClient, tech: SignedIn, cbs_items: list[str]) -> str:
    entry = await api.post("/service-entries", json={"vin": DEMO_VIN}, headers=tech.headers)
    assert entry.status_code in (200, 201), entry.text
    url = f"/service-entries/{entry.json()['entry_id']}"
    steps = [
        ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
        ("details", {"mileage_km": 196_500, "service_date": datetime.now(UTC).date().isoformat()}),
        ("services", {"cbs_items": cbs_items}),
        ("create", None),
    ]
    for step, body in steps:
        answer = await api.post(f"{url}/{step}", json=body, headers=tech.headers)
        assert answer.status_code == 200, (step, answer.text)
    close = await api.post(f"{url}/close", json={}, headers=tech.headers)
    assert close.status_code == 200, close.text
    return str(entry.json()["entry_id"])


async def test_a_ticket_is_acknowledged_planned_and_closed_by_a_service_entry_covering_it(
    api_client: httpx.AsyncClient, settings: Settings, partner: Partner
) -> None:
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil", "brake_fluid"]))
    oil = await _one_ticket(api_client, partner.technician, "engine_oil")
    url = f"/teleservice-tickets/{oil['ticket_id']}"
    tech = partner.technician.headers

    acknowledged = await api_client.post(f"{url}/acknowledge", headers=tech)
    assert acknowledged.status_code == 200, acknowledged.text
    again = await api_client.post(f"{url}/acknowledge", headers=tech)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/teleservice-ticket-step-not-allowed"
    appointment = datetime.now(UTC) + timedelta(days=2)
    planned = await api_client.post(
        f"{url}/appointment", json={"appointment_at": appointment.isoformat()}, headers=tech
    )
    assert planned.status_code == 200, planned.text
    past = await api_client.post(
        f"{url}/appointment",
        json={"appointment_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
        headers=tech,
    )
    assert past.status_code == 422
    assert past.json()["field"] == "appointment_at"
    listed = await _listed(api_client, partner.technician, state="open")
    assert {t["item"]: t["state"] for t in listed} == {
        "engine_oil": "appointment_planned",
        "brake_fluid": "new",
    }

    # The entry performs the oil service only: the oil ticket closes, the brake fluid's stays.
    entry_id = await _service_entry(api_client, partner.technician, ["engine_oil"])
    closed = await eventually(
        lambda: api_client.get(url, headers=tech), lambda a: a.json()["state"] == "closed"
    )
    assert closed.json()["close_reason"] == "service_entry"
    assert closed.json()["close_detail"] == f"service entry {entry_id}"
    still_open = await _listed(api_client, partner.technician, state="open")
    assert [t["item"] for t in still_open] == ["brake_fluid"]

    # The item comes due again later: a new ticket, not the closed one.
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil"]))
    tickets = await eventually(
        lambda: _listed(api_client, partner.technician, state="open"),
        lambda found: len(found) == 2,
    )
    assert oil["ticket_id"] not in {t["ticket_id"] for t in tickets}


async def test_a_ticket_is_closed_by_hand_with_a_reason_or_when_the_car_reports_it_resolved(
    api_client: httpx.AsyncClient, settings: Settings, partner: Partner
) -> None:
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil", "brake_fluid"]))
    oil = await _one_ticket(api_client, partner.technician, "engine_oil")
    brakes = await _one_ticket(api_client, partner.technician, "brake_fluid")
    url = f"/teleservice-tickets/{oil['ticket_id']}"
    tech = partner.technician.headers

    blank = await api_client.post(f"{url}/close", json={"reason": "   "}, headers=tech)
    assert blank.status_code == 422
    assert blank.json()["type"] == "/problems/invalid-teleservice-ticket-step"
    closed = await api_client.post(
        f"{url}/close", json={"reason": "serviced elsewhere"}, headers=tech
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["close_reason"], closed.json()["close_detail"]) == (
        "by_hand",
        "serviced elsewhere",
    )

    await _send(
        api_client,
        settings,
        {
            "kind": "item_resolved",
            "vin": DEMO_VIN,
            "sent_at": datetime.now(UTC).isoformat(),
            "item": "brake_fluid",
        },
    )
    resolved = await eventually(
        lambda: api_client.get(f"/teleservice-tickets/{brakes['ticket_id']}", headers=tech),
        lambda a: a.json()["state"] == "closed",
    )
    assert resolved.json()["close_reason"] == "resolved_by_car"
    assert await _listed(api_client, partner.technician, state="open") == []


async def test_only_the_partner_with_a_teleservice_ticket_sees_its_tickets_and_calls_wait_for_it(
    api_client: httpx.AsyncClient,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    portal_on_dev_server: Settings,
    operator: SignedIn,
) -> None:
    await seeded_cars(session_factory)
    # A service partner that has bought only the service history, no teleservice.
    partner = await service_partner(session_factory, services=(Service.SERVICE_HISTORY,))
    other = await service_partner(session_factory)
    await assign_partner(api_client, operator, DEMO_VIN, partner.workshop_id)
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil"]))

    refused = await api_client.get("/teleservice-tickets", headers=partner.technician.headers)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/no-access"
    # Kept meanwhile: it appears once the workshop buys teleservice.
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory,
        partner.workshop_id,
        now - timedelta(minutes=1),
        now + timedelta(days=1),
        Service.TELESERVICE,
    )
    ticket = await _one_ticket(api_client, partner.technician, "engine_oil")

    # Another workshop: not on its list, and the ticket's id answers as an unknown one.
    assert await _listed(api_client, other.technician) == []
    url = f"/teleservice-tickets/{ticket['ticket_id']}"
    foreign = await api_client.get(url, headers=other.technician.headers)
    unknown = await api_client.get(
        "/teleservice-tickets/tt-0123abcd", headers=other.technician.headers
    )
    assert foreign.status_code == unknown.status_code == 404
    assert (
        foreign.json()["type"] == unknown.json()["type"] == "/problems/teleservice-ticket-not-found"
    )
    step = await api_client.post(f"{url}/acknowledge", headers=other.technician.headers)
    assert step.status_code == 404
    other_list = await api_client.get(
        "/teleservice-tickets",
        params={"workshop_id": partner.workshop_id},
        headers=other.technician.headers,
    )
    assert other_list.status_code == 404


async def test_a_closed_ticket_takes_no_more_steps(
    api_client: httpx.AsyncClient, settings: Settings, partner: Partner
) -> None:
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil"]))
    oil = await _one_ticket(api_client, partner.technician, "engine_oil")
    url = f"/teleservice-tickets/{oil['ticket_id']}"
    tech = partner.technician.headers
    closed = await api_client.post(f"{url}/close", json={"reason": "sold"}, headers=tech)
    assert closed.status_code == 200, closed.text
    for step in ("acknowledge", "close"):
        answer = await api_client.post(f"{url}/{step}", json={"reason": "again"}, headers=tech)
        assert answer.status_code == 409, answer.text
        assert answer.json()["type"] == "/problems/teleservice-ticket-step-not-allowed"


async def test_a_battery_warning_and_a_drivers_request_are_closed_by_any_service_entry(
    api_client: httpx.AsyncClient, settings: Settings, partner: Partner
) -> None:
    now = datetime.now(UTC).isoformat()
    await _send(
        api_client,
        settings,
        {"kind": "battery_guard", "vin": DEMO_VIN, "sent_at": now, "voltage": 11.2},
    )
    await _send(
        api_client,
        settings,
        {"kind": "service_request", "vin": DEMO_VIN, "sent_at": now, "remark": "noise front left"},
    )
    await _one_ticket(api_client, partner.technician, "battery")
    await _one_ticket(api_client, partner.technician, "service_request")

    await _service_entry(api_client, partner.technician, ["vehicle_check"])
    tickets = await eventually(
        lambda: _listed(api_client, partner.technician),
        lambda found: all(t["state"] == "closed" for t in found),
    )
    assert {(t["item"], t["close_reason"]) for t in tickets} == {
        ("battery", "service_entry"),
        ("service_request", "service_entry"),
    }


async def test_operators_find_the_tickets_by_vin_and_workshop_and_the_page_names_the_partner(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    operator: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
    dev_env: WorkflowEnvironment,
) -> None:
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil"]))
    ticket = await _one_ticket(api_client, partner.technician, "engine_oil")
    workflow_id = (
        await api_client.get(
            f"/teleservice-tickets/{ticket['ticket_id']}", headers=partner.technician.headers
        )
    ).json()["workflow_id"]
    assert DEMO_VIN not in workflow_id  # the id holds the VIN's keyed search value only
    # The partner's workshop is carried from the ticket's start event, the one scoping rule.
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    carried = decode_typed_search_attributes(started.search_attributes)
    assert carried.get(search_attributes.WORKSHOP_ID) == partner.workshop_id

    async def found() -> list[dict[str, Any]]:
        answer = await api_client.get(
            "/flows",
            params={
                "vin": DEMO_VIN,
                "workshop": partner.workshop_id,
                "type": "TeleserviceTicketWorkflow",
            },
            headers=operator.headers,
        )
        assert answer.status_code == 200, answer.text
        flows: list[dict[str, Any]] = answer.json()["flows"]
        return flows

    flows = await eventually(found, lambda flows: len(flows) == 1)
    assert (flows[0]["workflow_id"], flows[0]["vin"], flows[0]["state"]) == (
        workflow_id,
        DEMO_VIN,
        "new",
    )
    diagram = await api_client.get(
        "/flows/types/TeleserviceTicketWorkflow/diagram",
        params={"workflow_id": workflow_id},
        headers=operator.headers,
    )
    assert diagram.status_code == 200, diagram.text
    assert "Appointment planned" in diagram.text

    # The vehicle page: "Own dealer" is yes for the partner, no for another workshop.
    other = await service_partner(session_factory)
    for who, own in ((partner, True), (other, False)):
        page = await api_client.get(f"/vehicles/{DEMO_VIN}", headers=who.technician.headers)
        assert page.json()["teleservices"]["own_dealer"] is own


async def test_a_ticket_that_takes_many_calls_continues_as_a_new_run_with_its_state(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ticket_rules, "CALLS_PER_RUN", 2)  # the workflows read it at run time
    await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil"]))
    ticket = await _one_ticket(api_client, partner.technician, "engine_oil")
    url = f"/teleservice-tickets/{ticket['ticket_id']}"
    tech = partner.technician.headers
    assert (await api_client.post(f"{url}/acknowledge", headers=tech)).status_code == 200
    for _ in range(3):
        await _send(api_client, settings, teleservice_call(DEMO_VIN, ["engine_oil"]))

    status = await eventually(
        lambda: api_client.get(url, headers=tech), lambda a: len(a.json()["calls"]) == 4
    )
    assert status.json()["state"] == "acknowledged"
    assert status.json()["ticket_id"] == ticket["ticket_id"]
    workflow_id = status.json()["workflow_id"]

    async def runs() -> list[WorkflowExecutionStatus | None]:
        query = f"WorkflowId = '{workflow_id}'"
        return [run.status async for run in dev_env.client.list_workflows(query)]

    statuses = await eventually(runs, lambda found: len(found) >= 2)
    assert WorkflowExecutionStatus.CONTINUED_AS_NEW in statuses
    again = await api_client.post(f"{url}/acknowledge", headers=tech)
    assert again.status_code == 409  # the new run knows it was acknowledged
    listed = await _listed(api_client, partner.technician)
    assert [(t["ticket_id"], t["calls"]) for t in listed] == [(ticket["ticket_id"], 4)]
