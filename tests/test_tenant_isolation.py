"""A workshop sees only its own data: every endpoint that takes a workshop-owned id, called by
a member of another workshop, answers 403 or 404 and changes nothing.

The cases come from the OpenAPI schema: a path parameter nobody classified, or a workshop-owned
endpoint without a case here, fails the test, so a new endpoint cannot skip this check.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import OutboxMail, Station, User
from domain.accounts import Role
from portal_app import create_app
from testkit.factories import create_workshop, sign_in
from tests.service_history.conftest import add_station

pytestmark = pytest.mark.database

# What each path parameter names. Only "workshop" ids belong to a workshop.
PATH_PARAMETERS = {
    "workshop_id": "workshop",
    "registration_id": "an applicant's receipt: registrations exist before any workshop",
    "token": "a single-use secret that identifies itself",
    "vin": "a vehicle: its service booklet is shared by every workshop with a service_history "
    "ticket (tests/service_history check the ticket)",
    "station_id": "a station of one workshop: others get 404 (tests/service_history)",
    "entry_id": "a service entry of one workshop: others get 404 (tests/service_history)",
    "workflow_id": "a flow, visible only to the workshop in its WorkshopId search attribute: "
    "others get 404 (tests/programming/test_flow_inspection.py)",
    "flow_type": "the name of a workflow type, not data",
    "session_id": "a programming session of one workshop (its workflow's WorkshopId): others "
    "get 404 (test_programming_sessions_of_another_workshop_are_invisible)",
    "package_id": "a flash package of the portal's catalogue, shared by every workshop; a "
    "station fetches it only with its own token (tests/programming/test_remote_station.py)",
    "ticket_id": "a teleservice ticket of the car's service partner: others get 404 "
    "(tests/teleservices/test_ticket_flow.py)",
    "request_id": "a remote key-read request of one workshop: others get 404 "
    "(tests/teleservices/test_remote_key_reads.py)",
    "document_id": "a technical document, shared by every workshop: searching is open, reading "
    "needs a technical_information ticket (tests/technical_information)",
    "approval_id": "a person's SERMI approval: administrators only (tests/technical_information)",
    "version": "a version of a technical document (administrators publish it)",
    "step": "the name of a publishing step, not data",
    "payment_id": "a payment of one workshop: others get 404 (tests/payments/test_payments.py)",
    "number": "an invoice of one workshop: others get 404 (tests/payments/test_payments.py)",
    "file_name": "a file of a session's frame log, handed in by the station the session ran on "
    "(tests/programming/test_remote_station.py)",
}

IDEMPOTENT = {"Idempotency-Key": "tenant-isolation-1"}
VICTIM_STATION = "victim-station"

# (method, path) -> request keywords for a call with another workshop's id.
WORKSHOP_CASES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/workshops/{workshop_id}/invitations"): {
        "json": {"email": "intruder@garage.example", "name": "Intruder"}
    },
    ("GET", "/workshops/{workshop_id}/account"): {},
    ("POST", "/workshops/{workshop_id}/account/top-ups"): {
        "json": {"amount_cents": 10_000},
        "headers": IDEMPOTENT,
    },
    ("POST", "/workshops/{workshop_id}/vouchers/redeem"): {
        "json": {"code": "ANY-CODE"},
        "headers": IDEMPOTENT,
    },
    ("POST", "/workshops/{workshop_id}/tickets"): {
        "json": {"service": "service_history", "period": "hour"},
        "headers": IDEMPOTENT,
    },
    ("GET", "/workshops/{workshop_id}/tickets"): {},
    ("GET", "/workshops/{workshop_id}/entitlements"): {},
    ("POST", "/workshops/{workshop_id}/stations"): {
        "json": {"station_id": "intruder-station", "name": "Intruder"}
    },
    ("GET", "/workshops/{workshop_id}/stations"): {},
    ("GET", "/workshops/{workshop_id}/keys"): {},
    ("POST", "/workshops/{workshop_id}/stations/{station_id}/token"): {},
    ("PATCH", "/workshops/{workshop_id}/stations/{station_id}"): {"json": {"name": "Intruder"}},
    ("DELETE", "/workshops/{workshop_id}/stations/{station_id}"): {},
    ("GET", "/workshops/{workshop_id}/technical-information/reading-history"): {},
    ("GET", "/workshops/{workshop_id}/top-up-quote"): {"params": {"amount_cents": 1_000}},
    ("GET", "/workshops/{workshop_id}/ticket-quote"): {
        "params": {"service": "service_history", "period": "hour"}
    },
    ("POST", "/workshops/{workshop_id}/payments"): {"json": {"amount_cents": 1_000}},
    ("GET", "/workshops/{workshop_id}/payments/{payment_id}"): {},
    ("GET", "/workshops/{workshop_id}/invoices"): {},
    ("GET", "/workshops/{workshop_id}/invoices/{number}.pdf"): {},
}
VICTIM_PAYMENT = "pay-" + "0" * 32
VICTIM_INVOICE = "2026-000001"


def _operations() -> list[tuple[str, str, list[str]]]:
    schema = create_app().openapi()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            found.append((method.upper(), path, names))
    return found


def test_every_path_parameter_is_classified_and_every_workshop_endpoint_has_a_case() -> None:
    for method, path, names in _operations():
        for name in names:
            assert name in PATH_PARAMETERS, f"{method} {path}: classify path parameter {name!r}"
        if "workshop_id" in names:
            assert (method, path) in WORKSHOP_CASES, f"{method} {path} has no isolation case"
    assert set(WORKSHOP_CASES) <= {(m, p) for m, p, _ in _operations()}, "stale cases"


async def test_another_workshop_gets_404_or_403_everywhere_and_nothing_changes(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    victim = await create_workshop(session_factory, "Victim Garage")
    await add_station(session_factory, victim, VICTIM_STATION)  # so a refusal is the rule's
    intruder_workshop = await create_workshop(session_factory, "Intruder Garage")
    for role in (Role.WORKSHOP_OWNER, Role.TECHNICIAN):
        intruder = await sign_in(session_factory, role, intruder_workshop)
        for (method, path), call in WORKSHOP_CASES.items():
            headers = {**intruder.headers, **call.get("headers", {})}
            response = await api_client.request(
                method,
                path.format(
                    workshop_id=victim,
                    station_id=VICTIM_STATION,
                    payment_id=VICTIM_PAYMENT,
                    number=VICTIM_INVOICE,
                ),
                json=call.get("json"),
                params=call.get("params"),
                headers=headers,
            )
            assert response.status_code in (403, 404), (role, method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"

    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, victim)
    account = (await api_client.get(f"/workshops/{victim}/account", headers=owner.headers)).json()
    assert account["balance_cents"] == 0 and account["entries"] == []
    tickets = await api_client.get(f"/workshops/{victim}/tickets", headers=owner.headers)
    assert tickets.json() == []
    async with session_factory() as session:
        intruders = await session.scalar(
            select(func.count()).select_from(User).where(User.email == "intruder@garage.example")
        )
        mails = await session.scalar(select(func.count()).select_from(OutboxMail))
        station = await session.get(Station, VICTIM_STATION)
    assert (intruders, mails) == (0, 0)
    assert station is not None and station.token_digest is None  # no token was issued
    # Neither renamed nor released.
    assert (station.workshop_id, station.name) == (victim, VICTIM_STATION)


async def test_administration_is_closed_to_workshops(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    workshop = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop)
    for method, path, names in _operations():
        if not path.startswith("/admin"):
            continue
        url = path.format(**dict.fromkeys(names, "x"))
        response = await api_client.request(method, url, json={}, headers=owner.headers)
        assert response.status_code == 403, (method, path, response.text)
