"""Steps a workshop owner takes through the API, for tests and benchmarks that need them done."""

from __future__ import annotations

import uuid

import httpx

from testkit.factories import SignedIn


async def buy_time(
    client: httpx.AsyncClient,
    owner: SignedIn,
    service: str = "ecu_programming",
    period: str = "day",
) -> None:
    """Top up and buy a ticket through the API, as a workshop owner does."""
    key = uuid.uuid4().hex
    topped = await client.post(
        f"/workshops/{owner.workshop_id}/account/top-ups",
        json={"amount_cents": 1_000_000},
        headers={**owner.headers, "Idempotency-Key": f"top-up-{key}"},
    )
    assert topped.status_code in (200, 201), topped.text
    bought = await client.post(
        f"/workshops/{owner.workshop_id}/tickets",
        json={"service": service, "period": period},
        headers={**owner.headers, "Idempotency-Key": f"ticket-{key}"},
    )
    assert bought.status_code in (200, 201), bought.text


async def register_station(client: httpx.AsyncClient, owner: SignedIn, station_id: str) -> None:
    registered = await client.post(
        f"/workshops/{owner.workshop_id}/stations",
        json={"station_id": station_id, "name": "Bay 1", "confirm_never_seen": True},
        headers=owner.headers,
    )
    assert registered.status_code == 201, registered.text
