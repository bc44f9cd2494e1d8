"""A teleservice ticket's service levels on the time-skipping server, through the API: not
acknowledged within 2 working days the workshop is reminded, within 4 the operators are told;
a planned appointment that passes without an entry reminds the workshop again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.teleservices import add_working_days
from portal_app import create_app
from settings import Settings
from testkit.connected_car import INBOUND_PATH, signed, teleservice_call
from testkit.factories import SignedIn, sign_in
from testkit.serving import running_api
from tests.teleservices.conftest import (
    DEMO_VIN,
    Partner,
    assign_partner,
    eventually,
    seeded_cars,
    service_partner,
)


@pytest.fixture
async def api(
    portal_on_time_skipping_server: Settings,
    time_skipping_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    await seeded_cars(session_factory)
    app = create_app(portal_on_time_skipping_server, temporal=time_skipping_env.client)
    async with running_api(app) as client:
        yield client


@pytest.fixture
async def operator(session_factory: async_sessionmaker[AsyncSession]) -> SignedIn:
    return await sign_in(session_factory, Role.ADMINISTRATOR)


@pytest.fixture
async def partner(
    api: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    time_skipping_env: WorkflowEnvironment,
    operator: SignedIn,
) -> Partner:
    partner = await service_partner(
        session_factory, clock=await time_skipping_env.get_current_time()
    )
    await assign_partner(api, operator, DEMO_VIN, partner.workshop_id)
    return partner


async def _open_ticket(
    api: httpx.AsyncClient, settings: Settings, partner: Partner
) -> dict[str, Any]:
    body, headers = signed(
        settings.teleservice_secret(), teleservice_call(DEMO_VIN, ["engine_oil"])
    )
    answer = await api.post(INBOUND_PATH, content=body, headers=headers)
    assert answer.status_code == 202, answer.text

    async def listed() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await api.get("/teleservice-tickets", headers=partner.technician.headers)
        ).json()
        return found

    tickets = await eventually(listed, lambda found: len(found) == 1)
    return tickets[0]


async def _mail(api: httpx.AsyncClient, operator: SignedIn, category: str) -> list[dict[str, Any]]:
    answer = await api.get("/admin/outbox", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return [mail for mail in answer.json() if mail["category"] == category]


async def _listed(api: httpx.AsyncClient, partner: Partner, **filters: str) -> list[dict[str, Any]]:
    answer = await api.get(
        "/teleservice-tickets", params=filters, headers=partner.technician.headers
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def test_an_unacknowledged_ticket_reminds_the_workshop_then_escalates_to_the_operators(
    api: httpx.AsyncClient,
    portal_on_time_skipping_server: Settings,
    time_skipping_env: WorkflowEnvironment,
    partner: Partner,
    operator: SignedIn,
) -> None:
    ticket = await _open_ticket(api, portal_on_time_skipping_server, partner)
    opened = await time_skipping_env.get_current_time()
    reminder_at = add_working_days(opened, 2)
    escalation_at = add_working_days(opened, 4)
    assert reminder_at - opened >= timedelta(days=2)  # weekends do not count

    await time_skipping_env.sleep(reminder_at - opened - timedelta(hours=1))
    assert await _mail(api, operator, "teleservice-acknowledge-reminder") == []
    assert [t["service_level"] for t in await _listed(api, partner)] == ["on_time"]

    await time_skipping_env.sleep(timedelta(hours=2))
    reminders = await eventually(
        lambda: _mail(api, operator, "teleservice-acknowledge-reminder"), lambda m: len(m) == 1
    )
    assert reminders[0]["recipient"] == f"{partner.workshop_id}@garage.example"
    assert ticket["ticket_id"] in reminders[0]["subject"]
    due = await eventually(
        lambda: _listed(api, partner, service_level="due"), lambda t: len(t) == 1
    )
    assert due[0]["ticket_id"] == ticket["ticket_id"]
    assert await _mail(api, operator, "teleservice-escalation") == []

    now = await time_skipping_env.get_current_time()
    await time_skipping_env.sleep(escalation_at - now + timedelta(hours=1))
    escalations = await eventually(
        lambda: _mail(api, operator, "teleservice-escalation"), lambda m: len(m) >= 1
    )
    assert {mail["recipient"] for mail in escalations} >= {f"{operator.user_id}@garage.example"}
    overdue = await eventually(
        lambda: _listed(api, partner, service_level="overdue"), lambda t: len(t) == 1
    )
    assert overdue[0]["state"] == "new"
    # Acknowledged at last: the ticket stays overdue on the list, but no more notices.
    acknowledged = await api.post(
        f"/teleservice-tickets/{ticket['ticket_id']}/acknowledge",
        headers=partner.technician.headers,
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["state"] == "acknowledged"
    await time_skipping_env.sleep(timedelta(days=30))
    assert len(await _mail(api, operator, "teleservice-acknowledge-reminder")) == 1


async def test_an_acknowledged_ticket_is_not_reminded_but_a_missed_appointment_is(
    api: httpx.AsyncClient,
    portal_on_time_skipping_server: Settings,
    time_skipping_env: WorkflowEnvironment,
    partner: Partner,
    operator: SignedIn,
) -> None:
    ticket = await _open_ticket(api, portal_on_time_skipping_server, partner)
    url = f"/teleservice-tickets/{ticket['ticket_id']}"
    tech = partner.technician.headers
    assert (await api.post(f"{url}/acknowledge", headers=tech)).status_code == 200
    now = await time_skipping_env.get_current_time()
    appointment = now + timedelta(days=3)
    planned = await api.post(
        f"{url}/appointment", json={"appointment_at": appointment.isoformat()}, headers=tech
    )
    assert planned.status_code == 200, planned.text
    assert planned.json()["state"] == "appointment_planned"

    await time_skipping_env.sleep(add_working_days(appointment, 1) - now - timedelta(hours=1))
    assert await _mail(api, operator, "teleservice-acknowledge-reminder") == []
    assert await _mail(api, operator, "teleservice-appointment-missed") == []

    await time_skipping_env.sleep(timedelta(hours=2))
    missed = await eventually(
        lambda: _mail(api, operator, "teleservice-appointment-missed"), lambda m: len(m) == 1
    )
    assert ticket["ticket_id"] in missed[0]["subject"]
    overdue = await eventually(
        lambda: _listed(api, partner, service_level="overdue"), lambda t: len(t) == 1
    )
    assert overdue[0]["state"] == "appointment_planned"
