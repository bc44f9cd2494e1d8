"""Right after Temporal restarts it lists no pollers: a station whose worker runs is not known
yet. That moment is a 503 `workflow-unavailable` with `Retry-After` (ask again), not the final
409 `station-offline`, which stays for stations that have not polled lately.

A Temporal dev server of the test's own is restarted at the same address on the same database
file. While it is down the station gateway is stopped too, so the station cannot reach the new
server before the API is asked (a real station comes back within seconds, or, with the
gateway's connection to the frontend backing off, within tens of seconds).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.workflow_calls import STATION_NOT_KNOWN_YET_RETRY_AFTER
from contracts import search_attributes
from db.models import Station
from hw.sim.keyreader_backend import SimulatedKeyReaderBackend, demo_key_blob
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from temporal_client import data_converter
from testkit.factories import grant_ticket
from testkit.serving import free_port, running_api
from testkit.station_gateway import connect_station, station_gateway, station_token
from tests.helpers import until_polling
from tests.service_history.conftest import (
    OTHER_VIN,
    add_station,
    booklet_with_reader,
    garage,
    seed,
)

TEMPORAL = str(Path(sys.executable).parent / "temporal")


async def _temporal(port: int, database: Path) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL,
        dev_server_database_filename=str(database),
        port=port,
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )


@asynccontextmanager
async def _restartable_temporal(tmp_path: Path) -> AsyncIterator[list[WorkflowEnvironment]]:
    """A dev server of its own; the list holds the one running now (a restart appends)."""
    running = [await _temporal(free_port(), tmp_path / "temporal.db")]
    try:
        yield running
    finally:
        await running[-1].shutdown()


async def _restart(running: list[WorkflowEnvironment], tmp_path: Path) -> None:
    port = int(running[-1].client.service_client.config.target_host.rpartition(":")[2])
    await running[-1].shutdown()
    running.append(await _temporal(port, tmp_path / "temporal.db"))


async def test_a_station_temporal_does_not_know_yet_is_503_with_retry_after_not_offline(
    tmp_path: Path, database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    station_id, gone_id = f"st-{uuid.uuid4().hex[:10]}", f"st-{uuid.uuid4().hex[:10]}"
    for claimed in (station_id, gone_id):
        await add_station(session_factory, shop.workshop_id, claimed)
    # A station whose worker polled through the gateway, but ten minutes ago.
    async with session_factory() as session, session.begin():
        await session.execute(
            update(Station)
            .where(Station.id == gone_id)
            .values(last_polled_at=now - timedelta(minutes=10))
        )
    reader = SimulatedKeyReaderBackend()
    reader.insert_key(demo_key_blob(OTHER_VIN))
    gateway_listen = f"127.0.0.1:{free_port()}"

    async with _restartable_temporal(tmp_path) as temporal:
        frontend = temporal[0].client  # reconnects to the restarted server at the same address
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            temporal_address=frontend.service_client.config.target_host,
            portal_task_queue=f"portal-{uuid.uuid4().hex[:8]}",
        )
        token = await station_token(settings, station_id)
        deps = PortalDependencies(settings, session_factory)
        async with (
            portal_worker(frontend, deps, settings.portal_task_queue),
            running_api(create_app(settings, temporal=frontend)) as api,
            station_gateway(frontend, settings, listen=gateway_listen) as first_gateway,
        ):
            station = await connect_station(settings, first_gateway, token)
            activities = booklet_with_reader(station_id, reader).activities()
            queue = settings.station_task_queue(station_id)
            async with Worker(station, task_queue=queue, activities=activities):
                await until_polling(frontend, settings, station_id)
                key_read = f"/stations/{station_id}/key-reads"
                read = await api.post(key_read, headers=shop.technician.headers)
                assert read.status_code == 201, read.text

                await first_gateway.stop(grace=0.5)  # the station can reach no Temporal now
                await _restart(temporal, tmp_path)

                not_yet = await api.post(key_read, headers=shop.technician.headers)
                assert not_yet.status_code == 503, not_yet.text
                problem = not_yet.json()
                assert (problem["type"], problem["field"]) == (
                    "/problems/workflow-unavailable",
                    "station_id",
                )
                retry_after = STATION_NOT_KNOWN_YET_RETRY_AFTER
                assert not_yet.headers["Retry-After"] == str(retry_after)
                assert problem["retry_after"] == retry_after
                gone = await api.post(
                    f"/stations/{gone_id}/key-reads", headers=shop.technician.headers
                )
                assert (gone.status_code, gone.json()["type"]) == (409, "/problems/station-offline")

                # The gateway is back: the station polls the new server, and a client that
                # asked again after each 503 gets its key read, never a 409.
                async with station_gateway(frontend, settings, listen=gateway_listen):
                    answers = await _until_not_503(api, key_read, shop.technician.headers)
    assert answers[-1].status_code == 201, answers[-1].text
    assert {a.status_code for a in answers[:-1]} <= {503}


async def _until_not_503(
    api: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answers.append(await api.post(path, headers=headers))
        if answers[-1].status_code != 503:
            return answers
        await asyncio.sleep(0.5)  # sooner than Retry-After: the test has no time to lose
    raise AssertionError(f"still 503 after 90 s: {answers[-1].text}")
