"""Key reads through the API on the dev server, with a station worker on a simulated KeyReader:
corrupt data is refused with its reason and stores nothing; a flaky read is retried."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.models import KeyRecord
from hw.sim.keyreader_backend import SimulatedKeyReaderBackend, demo_key_blob
from settings import Settings
from testkit.factories import grant_ticket
from tests.service_history.conftest import (
    OTHER_VIN,
    add_station,
    booklet_with_reader,
    garage,
    seed,
    station_worker,
)

pytestmark = pytest.mark.usefixtures("portal_on_dev_server")


async def _key_rows(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(KeyRecord)) or 0)


async def test_corrupt_key_data_is_refused_with_the_reason_and_nothing_is_stored(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, shop.workshop_id, station_id)
    reader = SimulatedKeyReaderBackend()
    blob = bytearray(demo_key_blob(OTHER_VIN))
    blob[20] ^= 0xFF  # inside the VIN: the checksum no longer matches
    reader.insert_key(bytes(blob))

    async with station_worker(
        dev_env.client, settings, station_id, booklet_with_reader(station_id, reader)
    ):
        url = f"/stations/{station_id}/key-reads"
        refused = await api_client.post(url, headers=shop.technician.headers)
        assert (refused.status_code, refused.json()["type"]) == (422, "/problems/key-data-corrupt")
        assert refused.json()["reason"] == "bad_checksum"
        assert "checksum" in refused.json()["detail"]
        assert await _key_rows(session_factory) == 0

        reader.remove_key()
        no_key = await api_client.post(url, headers=shop.technician.headers)
        assert (no_key.status_code, no_key.json()["reason"]) == (409, "no_key")

        reader.insert_key(demo_key_blob(OTHER_VIN))
        reader.fail_next_read()  # the transponder fails once: the read is tried again
        read = await api_client.post(url, headers=shop.technician.headers)
        assert read.status_code == 201, read.text
        assert (read.json()["vin"], read.json()["brand"]) == (OTHER_VIN, "BMW")
        again = await api_client.post(url, headers=shop.technician.headers)
        assert again.json()["key_record_id"] == read.json()["key_record_id"]  # the same row
    assert await _key_rows(session_factory) == 1
