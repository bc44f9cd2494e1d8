"""A key read on a station whose worker does not run is refused at once (issue #15), not after
the key-read flow has waited for the station."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testkit.factories import grant_ticket
from tests.service_history.conftest import add_station, garage

pytestmark = pytest.mark.usefixtures("portal_on_dev_server")


async def test_a_key_read_on_a_station_without_worker_is_refused_at_once(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    shop = await garage(session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    station_id = f"st-{uuid.uuid4().hex[:10]}"  # claimed, but no worker ever polled its queue
    await add_station(session_factory, shop.workshop_id, station_id)

    began = time.monotonic()
    refused = await api_client.post(
        f"/stations/{station_id}/key-reads", headers=shop.technician.headers
    )
    elapsed = time.monotonic() - began

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert (problem["type"], problem["field"]) == ("/problems/station-offline", "station_id")
    assert elapsed < 5, f"refused after {elapsed:.1f} s"  # the flow's pickup wait is 20 s
