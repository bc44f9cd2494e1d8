"""The access API end to end: catalogue, account, vouchers, tickets, entitlements, problems."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.converter import decode_typed_search_attributes
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from contracts.access import entitlement_workflow_id, ticket_purchase_workflow_id
from db.models import Ticket, TicketPurchase
from domain.accounts import Role
from domain.catalogue import Service
from domain.entitlement import Coverage
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.serving import running_api
from web.deps import require_entitlement

pytestmark = pytest.mark.database

TI = Service.TECHNICAL_INFORMATION
HOUR_PRICE = 500


@pytest.fixture
async def api(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=dev_env.client)

    # Stands in for a service router (e.g. technical information) guarded by the check.
    @app.get("/workshops/{workshop_id}/technical-information")
    async def technical_information(
        coverage: Annotated[Coverage, Depends(require_entitlement(TI))],
    ) -> dict[str, int]:
        return {"remaining_seconds": int(coverage.remaining.total_seconds())}

    worker = portal_worker(
        dev_env.client, PortalDependencies(settings, session_factory), settings.portal_task_queue
    )
    async with worker, running_api(app) as client:
        yield client
    async with session_factory() as session:
        workshops = set((await session.scalars(select(Ticket.workshop_id))).all())
    for ws in workshops:
        for service in Service:
            with contextlib.suppress(Exception):
                handle = dev_env.client.get_workflow_handle(entitlement_workflow_id(ws, service))
                await handle.terminate("test finished")


def idem() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid.uuid4().hex}"}


async def _people(
    session_factory: async_sessionmaker[AsyncSession],
) -> tuple[str, SignedIn, SignedIn, SignedIn]:
    ws = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, ws)
    technician = await sign_in(session_factory, Role.TECHNICIAN, ws)
    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    return ws, owner, technician, admin


async def _top_up(api: httpx.AsyncClient, ws: str, who: SignedIn, cents: int) -> httpx.Response:
    return await api.post(
        f"/workshops/{ws}/account/top-ups",
        json={"amount_cents": cents},
        headers={**who.headers, **idem()},
    )


async def test_catalogue_is_public_and_administrators_change_prices(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws, owner, _, admin = await _people(session_factory)
    catalogue = (await api.get("/catalogue")).json()
    assert catalogue["currency"] == "EUR"
    assert {s["code"] for s in catalogue["services"]} == {s.value for s in Service}
    assert len(catalogue["prices"]) == 20
    assert {"service": "technical_information", "period": "hour", "price_cents": 500} in (
        catalogue["prices"]
    )

    change = {
        "prices": [{"service": "technical_information", "period": "hour", "price_cents": 700}]
    }
    refused = await api.put("/admin/catalogue/prices", json=change, headers=owner.headers)
    assert (refused.status_code, refused.json()["type"]) == (403, "/problems/forbidden")
    assert (await api.put("/admin/catalogue/prices", json=change)).status_code == 401

    assert (await _top_up(api, ws, owner, 5_000)).status_code == 201
    bought_before = await api.post(
        f"/workshops/{ws}/tickets",
        json={"service": "technical_information", "period": "hour"},
        headers={**owner.headers, **idem()},
    )
    assert bought_before.json()["ticket"]["price_cents"] == 500
    changed = await api.put("/admin/catalogue/prices", json=change, headers=admin.headers)
    assert changed.status_code == 200, changed.text
    assert {"service": "technical_information", "period": "hour", "price_cents": 700} in (
        changed.json()["prices"]
    )
    bought_after = await api.post(
        f"/workshops/{ws}/tickets",
        json={"service": "technical_information", "period": "hour"},
        headers={**owner.headers, **idem()},
    )
    assert bought_after.json()["ticket"]["price_cents"] == 700
    listed = (await api.get(f"/workshops/{ws}/tickets", headers=owner.headers)).json()
    assert sorted(t["price_cents"] for t in listed) == [500, 700]  # the old ticket kept its price

    bad = {"prices": [{"service": "technical_information", "period": "hour", "price_cents": 0}]}
    invalid = await api.put("/admin/catalogue/prices", json=bad, headers=admin.headers)
    assert (invalid.status_code, invalid.json()["type"]) == (422, "/problems/validation-error")


async def test_top_ups_are_idempotent_and_refuse_bad_input(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws, owner, technician, _ = await _people(session_factory)
    url = f"/workshops/{ws}/account/top-ups"
    headers = {**owner.headers, "Idempotency-Key": "top-up-0001"}
    first = await api.post(url, json={"amount_cents": 2_500}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["balance_cents"] == 2_500
    again = await api.post(url, json={"amount_cents": 2_500}, headers=headers)
    assert again.json() == first.json()  # the retry charged nothing
    other_body = await api.post(url, json={"amount_cents": 2_600}, headers=headers)
    assert (other_body.status_code, other_body.json()["type"]) == (
        409,
        "/problems/idempotency-key-reused",
    )

    declined = await api.post(
        url, json={"amount_cents": 1_013}, headers={**owner.headers, **idem()}
    )
    assert (declined.status_code, declined.json()["type"]) == (402, "/problems/payment-declined")
    token = await api.post(
        url,
        json={"amount_cents": 1_000, "payment_token": "tok_declined"},
        headers={**owner.headers, **idem()},
    )
    assert (token.status_code, token.json()["type"]) == (402, "/problems/payment-declined")
    for amount in (0, -100):
        bad = await api.post(
            url, json={"amount_cents": amount}, headers={**owner.headers, **idem()}
        )
        assert (bad.status_code, bad.json()["type"]) == (422, "/problems/invalid-amount")
    no_key = await api.post(url, json={"amount_cents": 100}, headers=owner.headers)
    assert (no_key.status_code, no_key.json()["field"]) == (422, "Idempotency-Key")
    by_technician = await _top_up(api, ws, technician, 100)
    assert (by_technician.status_code, by_technician.json()["type"]) == (403, "/problems/forbidden")

    account = await api.get(f"/workshops/{ws}/account?limit=1", headers=technician.headers)
    assert account.status_code == 200
    body = account.json()
    assert (body["balance_cents"], body["total"], len(body["entries"])) == (2_500, 1, 1)
    assert body["entries"][0]["kind"] == "top_up"


async def test_vouchers_are_redeemed_once(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws, owner, _, admin = await _people(session_factory)
    created = await api.post(
        "/admin/vouchers",
        json={"amount_cents": 3_000, "code": "WELCOME-2026"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "WELCOME-2026"
    twice = await api.post(
        "/admin/vouchers",
        json={"amount_cents": 3_000, "code": "welcome-2026"},
        headers=admin.headers,
    )
    assert (twice.status_code, twice.json()["type"]) == (409, "/problems/voucher-exists")
    by_owner = await api.post("/admin/vouchers", json={"amount_cents": 1}, headers=owner.headers)
    assert by_owner.status_code == 403
    zero = await api.post("/admin/vouchers", json={"amount_cents": 0}, headers=admin.headers)
    assert zero.json()["type"] == "/problems/invalid-amount"

    url = f"/workshops/{ws}/vouchers/redeem"
    redeemed = await api.post(
        url, json={"code": "welcome-2026"}, headers={**owner.headers, **idem()}
    )
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["balance_cents"] == 3_000
    used = await api.post(url, json={"code": "WELCOME-2026"}, headers={**owner.headers, **idem()})
    assert (used.status_code, used.json()["type"]) == (409, "/problems/voucher-used")
    unknown = await api.post(
        url, json={"code": "NO-SUCH-CODE"}, headers={**owner.headers, **idem()}
    )
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/voucher-unknown")


async def test_buying_tickets(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws, owner, technician, _ = await _people(session_factory)
    url = f"/workshops/{ws}/tickets"
    guarded = f"/workshops/{ws}/technical-information"
    never = await api.get(guarded, headers=technician.headers)
    assert (never.status_code, never.json()["type"]) == (403, "/problems/no-access")
    assert never.json()["purchase"] == url

    poor = await api.post(
        url,
        json={"service": "technical_information", "period": "hour"},
        headers={**owner.headers, **idem()},
    )
    assert (poor.status_code, poor.json()["type"]) == (402, "/problems/insufficient-credit")
    assert (poor.json()["balance"], poor.json()["price"]) == (0, HOUR_PRICE)

    assert (await _top_up(api, ws, owner, 1_000)).status_code == 201
    headers = {**owner.headers, "Idempotency-Key": "ticket-0001"}
    body = {"service": "technical_information", "period": "hour"}
    bought = await api.post(url, json=body, headers=headers)
    assert bought.status_code == 201, bought.text
    ticket = bought.json()["ticket"]
    assert bought.json()["balance_cents"] == 500
    starts, ends = (
        datetime.fromisoformat(ticket["starts_at"]),
        datetime.fromisoformat(ticket["ends_at"]),
    )
    assert ends - starts == timedelta(hours=1)

    again = await api.post(url, json=body, headers=headers)
    assert again.status_code == 201
    assert again.json()["ticket"] == ticket and again.json()["balance_cents"] == 500
    other = await api.post(url, json={**body, "period": "day"}, headers=headers)
    assert (other.status_code, other.json()["type"]) == (409, "/problems/idempotency-key-reused")

    for field, value in (("service", "time_travel"), ("period", "fortnight")):
        bad = await api.post(url, json={**body, field: value}, headers={**owner.headers, **idem()})
        assert (bad.status_code, bad.json()["type"], bad.json()["field"]) == (
            422,
            "/problems/validation-error",
            field,
        )
    by_technician = await api.post(url, json=body, headers={**technician.headers, **idem()})
    assert by_technician.status_code == 403

    allowed = await api.get(guarded, headers=technician.headers)
    assert allowed.status_code == 200 and 3500 < allowed.json()["remaining_seconds"] <= 3600
    listed = await api.get(url, headers=technician.headers)
    assert [t["ticket_id"] for t in listed.json()] == [ticket["ticket_id"]]
    entitlements = {
        e["service"]: e
        for e in (await api.get(f"/workshops/{ws}/entitlements", headers=technician.headers)).json()
    }
    assert entitlements["technical_information"]["state"] == "active"
    assert entitlements["technical_information"]["ends_at"] == ticket["ends_at"]
    assert entitlements["teleservice"]["state"] == "none"
    ledger = (await api.get(f"/workshops/{ws}/account", headers=owner.headers)).json()
    assert [e["amount_cents"] for e in ledger["entries"]] == [-HOUR_PRICE, 1_000]


async def test_ended_coverage_answers_access_expired(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws, owner, _, _ = await _people(session_factory)
    ended_at = datetime.now(UTC) - timedelta(minutes=5)
    async with session_factory() as session, session.begin():
        session.add(
            TicketPurchase(
                id="tp-old",
                workshop_id=ws,
                idempotency_key="old-ticket",
                service=TI.value,
                period="hour",
                price_cents=500,
                state="confirmed",
                ticket_id="tk-old",
                created_at=ended_at,
                updated_at=ended_at,
            )
        )
        await session.flush()
        session.add(
            Ticket(
                id="tk-old",
                workshop_id=ws,
                service=TI.value,
                period="hour",
                price_cents=500,
                starts_at=ended_at - timedelta(hours=1),
                ends_at=ended_at,
                purchase_id="tp-old",
                created_at=ended_at,
            )
        )
    expired = await api.get(f"/workshops/{ws}/technical-information", headers=owner.headers)
    assert (expired.status_code, expired.json()["type"]) == (403, "/problems/access-expired")
    assert datetime.fromisoformat(expired.json()["ended_at"]) == ended_at
    assert expired.json()["purchase"] == f"/workshops/{ws}/tickets"


async def test_other_workshops_look_absent(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    _, owner, _, _ = await _people(session_factory)
    theirs = await create_workshop(session_factory, "Other Garage")
    for method, path, body in (
        ("GET", f"/workshops/{theirs}/account", None),
        ("GET", f"/workshops/{theirs}/tickets", None),
        ("GET", f"/workshops/{theirs}/entitlements", None),
        ("GET", f"/workshops/{theirs}/technical-information", None),
        ("POST", f"/workshops/{theirs}/account/top-ups", {"amount_cents": 100}),
        ("POST", f"/workshops/{theirs}/vouchers/redeem", {"code": "ANY-CODE"}),
        ("POST", f"/workshops/{theirs}/tickets", {"service": "teleservice", "period": "day"}),
    ):
        response = await api.request(method, path, json=body, headers={**owner.headers, **idem()})
        assert (response.status_code, response.json()["type"]) == (404, "/problems/not-found"), path


async def test_a_purchase_and_its_entitlement_carry_the_workshop_from_their_start(
    api: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """WorkshopId is the one scoping rule: every flow a workshop starts carries it in its start
    event, so operators and the workshop's own lists find it from its first moment."""
    ws, owner, _, _ = await _people(session_factory)
    assert (await _top_up(api, ws, owner, 1_000)).status_code == 201
    bought = await api.post(
        f"/workshops/{ws}/tickets",
        json={"service": "technical_information", "period": "hour"},
        headers={**owner.headers, "Idempotency-Key": "scope-0001"},
    )
    assert bought.status_code == 201, bought.text
    for workflow_id in (
        ticket_purchase_workflow_id(ws, "scope-0001"),
        entitlement_workflow_id(ws, TI),
    ):
        history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        carried = decode_typed_search_attributes(started.search_attributes)
        assert carried.get(search_attributes.WORKSHOP_ID) == ws, workflow_id
