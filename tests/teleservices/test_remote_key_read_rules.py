"""Who may ask a car for its key data, through the API on the dev server: the refusals with
the reason the seed shows (not capable, no contract, no right), the service partner, another
workshop with the owner's consent, cancelling a request that waits, and another workshop's
request answering like an unknown one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.catalogue import Service
from domain.service_history import CONSENT_TEXT_VERSION
from settings import Settings
from testkit.connected_car import INBOUND_PATH, signed
from tests.teleservices.conftest import DEMO_VIN, Partner, eventually, seeded_cars, service_partner

CONSENT = {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}


@pytest.fixture
async def partner(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Partner]:
    await seeded_cars(session_factory)
    yield await service_partner(session_factory)


async def _facts(
    api: httpx.AsyncClient, settings: Settings, partner_id: str | None, **facts: bool
) -> None:
    payload = {
        "kind": "vehicle_facts",
        "vin": DEMO_VIN,
        "sent_at": datetime.now(UTC).isoformat(),
        "teleservice_capable": True,
        "connected_drive_contract": True,
        "remote_key_read_capable": True,
        "service_partner_id": partner_id,
        **facts,
    }
    body, headers = signed(settings.teleservice_secret(), payload)
    answer = await api.post(INBOUND_PATH, content=body, headers=headers)
    assert answer.status_code == 202, answer.text


async def _ask(
    api: httpx.AsyncClient, who: Partner, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await api.post(
        f"/vehicles/{DEMO_VIN}/remote-key-reads", json=body or {}, headers=who.technician.headers
    )


@pytest.mark.parametrize(
    ("facts", "status", "problem"),
    [
        ({"remote_key_read_capable": False}, 409, "remote-key-read-not-capable"),
        ({"connected_drive_contract": False}, 409, "remote-key-read-no-contract"),
    ],
)
async def test_a_car_that_cannot_be_reached_is_refused_with_the_reason(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    facts: dict[str, bool],
    status: int,
    problem: str,
) -> None:
    await _facts(api_client, settings, partner.workshop_id, **facts)
    answer = await _ask(api_client, partner, {"owner_consent": CONSENT})
    assert answer.status_code == status, answer.text
    assert answer.json()["type"] == f"/problems/{problem}"


async def test_only_the_partner_or_a_workshop_with_the_owners_consent_may_ask(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    stranger = await service_partner(session_factory)
    await _facts(api_client, settings, partner.workshop_id)

    refused = await _ask(api_client, stranger)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/remote-key-read-no-right"
    unticked = await _ask(api_client, stranger, {"owner_consent": {**CONSENT, "confirmed": False}})
    assert unticked.json()["type"] == "/problems/consent-required"

    with_consent = await _ask(api_client, stranger, {"owner_consent": CONSENT})
    assert with_consent.status_code == 201, with_consent.text
    by_partner = await _ask(api_client, partner)
    assert by_partner.status_code == 201, by_partner.text

    # Without a teleservice ticket nobody may ask, partner or not.
    no_ticket = await service_partner(session_factory, services=(Service.SERVICE_HISTORY,))
    await _facts(api_client, settings, no_ticket.workshop_id)
    answer = await _ask(api_client, no_ticket)
    assert answer.status_code == 403
    assert answer.json()["type"] == "/problems/no-access"


async def test_a_waiting_request_is_cancelled_and_another_workshop_cannot_see_or_cancel_it(
    api_client: httpx.AsyncClient,
    settings: Settings,
    partner: Partner,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    other = await service_partner(session_factory)
    await _facts(api_client, settings, partner.workshop_id)
    asked = await _ask(api_client, partner)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["request_id"]
    url = f"/remote-key-reads/{request_id}"

    for answer in (
        await api_client.get(url, headers=other.technician.headers),
        await api_client.post(f"{url}/cancel", headers=other.technician.headers),
        await api_client.get("/remote-key-reads/" + "0" * 32, headers=partner.technician.headers),
    ):
        assert answer.status_code == 404
        assert answer.json()["type"] == "/problems/remote-key-read-not-found"
    assert (
        await api_client.get("/remote-key-reads", headers=other.technician.headers)
    ).json() == []

    cancelled = await api_client.post(f"{url}/cancel", headers=partner.technician.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    again = await api_client.post(f"{url}/cancel", headers=partner.technician.headers)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/remote-key-read-not-open"
    listed = await eventually(
        lambda: api_client.get("/remote-key-reads", headers=partner.technician.headers),
        lambda a: [r["state"] for r in a.json()] == ["cancelled"],
    )
    assert listed.json()[0]["request_id"] == request_id
