"""`worker.py station` leaves promptly on SIGTERM, as `make dev` and service managers expect:
within a few seconds and with code 0, even when the server behind its gateway does not answer."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from settings import Settings
from testkit.serving import free_port
from testkit.station_gateway import station_gateway, station_token
from tests.helpers import until_polled
from worker import temporal_dev_server_command

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
PROMPTLY = 8.0  # seconds: the worker gives up on an unanswered shutdown after 5


@pytest.fixture
async def own_temporal(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Settings, int]]:
    """A Temporal dev server of this test's own (the test freezes it), and settings for it."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
    )
    settings.data_dir.mkdir()
    server = await asyncio.create_subprocess_exec(*temporal_dev_server_command(settings))
    try:
        for _ in range(300):
            try:
                await Client.connect(settings.temporal_address)
                break
            except RuntimeError:
                await asyncio.sleep(0.1)
        yield settings, server.pid
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.kill()
        await server.wait()


@pytest.mark.parametrize("temporal", ["answering", "frozen"])
async def test_the_station_worker_exits_promptly_on_sigterm(
    own_temporal: tuple[Settings, int], temporal: str
) -> None:
    settings, temporal_pid = own_temporal
    frontend = await Client.connect(settings.temporal_address)
    station_id = f"stop-{free_port()}"
    token = await station_token(settings, station_id)
    listen = f"127.0.0.1:{free_port()}"
    async with station_gateway(frontend, settings, listen=listen):
        station = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            "station",
            "--station-id",
            station_id,
            "--vehicle",
            "sim://",
            cwd=ROOT,
            env={
                **os.environ,
                "AOS_DATA_DIR": str(settings.data_dir),
                "AOS_GATEWAY_ADDRESS": listen,
                "AOS_STATION_TOKEN": token,
            },
        )
        try:
            assert await until_polled(frontend, settings.station_task_queue(station_id), 30)
            if temporal == "frozen":  # its polls now hang in the gateway, unanswered
                os.kill(temporal_pid, signal.SIGSTOP)
            started = time.monotonic()
            station.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(station.wait(), timeout=60)
            took = time.monotonic() - started
            print(f"stopped after {took:.1f}s with Temporal {temporal}")
            assert code == 0
            assert took < PROMPTLY
        finally:
            os.kill(temporal_pid, signal.SIGCONT)
            if station.returncode is None:
                station.kill()
                await station.wait()
