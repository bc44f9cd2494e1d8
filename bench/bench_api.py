"""API figures, measured in one run on this machine, on SQLite and the Temporal dev server.

- `read_rate_under_writes`: account reads per second (`GET /workshops/{id}/account` with the
  owner's token, `READERS` concurrent clients) while another process writes
  `WRITES_PER_S` top-ups a second (`bench.write_load`: four concurrent loops, another
  workshop, the repository's write transaction), ÷ the same reads per second with no writer.
  `LOAD_PHASES` short loaded phases alternate with idle ones; the figure is the median over
  the loaded phases of each one's rate ÷ the mean of the two idle phases around it.
- `api_start_ratio`: ServiceEntryWorkflow starts per second through `POST /service-entries`
  (sign-in lookup, the service-history ticket check, the vehicle's facts, the start with the
  status the answer carries: one update-with-start) ÷ the same update-with-start made
  straight with the Temporal client (`application.service_history.start_entry`), at the same
  concurrency, on the same server and portal worker. Rounds of
  both alternate; the figure is the median, over the pairs of neighbouring rounds, of the API
  round's rate ÷ the raw round's (as `read_rate_under_writes` compares neighbours: the
  machine's speed drifts over seconds, less so between neighbours). The portal worker runs in a
  process of its own (`worker.py portal`), as in `make dev` and in production: in this
  process it would share one interpreter lock with the API and the callers, and every
  millisecond the API spends would be taken from the workflows too.

The API runs in this process, called over ASGI as the tests call it; details go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.service_history import start_entry
from application.workflow_calls import task_queue_pollers
from contracts import search_attributes
from contracts.service_history import ServiceEntryInput, StepCaller
from db import migrate
from db.engine import create_engine, create_session_factory
from db.seed import seed_demo_vehicles
from db.service_history import ServiceHistoryRepository
from domain.accounts import Role
from domain.demo_vehicles import load_demo_vehicles
from domain.service_history import EntryKind, EntrySource
from portal_app import create_app
from settings import Settings
from temporal_client import data_converter
from testkit.factories import create_workshop, long_ticket, sign_in
from testkit.serving import running_api

READERS = 8
READ_PHASE_S = 3.0
LOAD_PHASES = 6  # each between two idle ones: short phases, many, as the machine's speed drifts
WRITES_PER_S = 50  # top-ups; a busy portal worker's order of magnitude, a third of the maximum
STARTERS = 10
STARTS_PER_ROUND = 60
START_ROUNDS = 9
REPOSITORY = Path(__file__).resolve().parent.parent


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr)


@dataclass
class Stack:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    client: Client


@contextlib.asynccontextmanager
async def stack() -> AsyncIterator[Stack]:
    """A fresh SQLite database and Temporal dev server, gone afterwards."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            database_url = f"sqlite:///{tmp}/bench.db"
            migrate.upgrade(database_url)
            settings = Settings(
                database_url=database_url,
                data_dir=Path(tmp) / "data",
                temporal_address=env.client.service_client.config.target_host,
                portal_task_queue=f"bench-{uuid.uuid4().hex[:6]}",
            )
            engine = create_engine(database_url)
            try:
                yield Stack(settings, create_session_factory(engine), env.client)
            finally:
                await engine.dispose()
    finally:
        await env.shutdown()


# --- read_rate_under_writes -------------------------------------------------------------------


async def _read_phase(api: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[float]:
    """Latencies of the reads that completed within one phase (`READERS` clients looping)."""
    deadline = time.perf_counter() + READ_PHASE_S
    latencies: list[float] = []

    async def reader() -> None:
        while (began := time.perf_counter()) < deadline:
            response = await api.get(url, headers=headers)
            response.raise_for_status()
            if (ended := time.perf_counter()) <= deadline:
                latencies.append(ended - began)

    await asyncio.gather(*(reader() for _ in range(READERS)))
    return latencies


async def _command(writer: asyncio.subprocess.Process, command: str) -> str:
    assert writer.stdin is not None and writer.stdout is not None
    writer.stdin.write(f"{command}\n".encode())
    await writer.stdin.drain()
    return (await writer.stdout.readline()).decode().strip() if command == "stop" else ""


async def read_rate_under_writes() -> float:
    async with stack() as bench:
        factory = bench.session_factory
        read_workshop = await create_workshop(factory, "Garage Read")
        owner = await sign_in(factory, Role.WORKSHOP_OWNER, read_workshop)
        write_workshop = await create_workshop(factory, "Garage Write")
        writer_owner = await sign_in(factory, Role.WORKSHOP_OWNER, write_workshop)
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.write_load",
            bench.settings.database_url,
            write_workshop,
            writer_owner.user_id,
            str(WRITES_PER_S),
            cwd=REPOSITORY,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert writer.stdout is not None
        try:
            if (await writer.stdout.readline()).strip() != b"ready":
                raise RuntimeError("the write load did not start")
            app = create_app(bench.settings, temporal=bench.client)
            url = f"/workshops/{read_workshop}/account"
            async with running_api(app) as api:
                for cents in range(1_000, 3_000, 100):  # a ledger of some entries to read
                    top_up = await api.post(
                        f"{url}/top-ups",
                        json={"amount_cents": cents},
                        headers={**owner.headers, "Idempotency-Key": f"seed-{cents}"},
                    )
                    top_up.raise_for_status()
                await _read_phase(api, url, owner.headers)  # warm-up
                idle: list[list[float]] = []
                loaded: list[list[float]] = []
                writes = 0
                idle.append(await _read_phase(api, url, owner.headers))
                for _ in range(LOAD_PHASES):
                    await _command(writer, "go")
                    loaded.append(await _read_phase(api, url, owner.headers))
                    writes += int(await _command(writer, "stop"))
                    idle.append(await _read_phase(api, url, owner.headers))
        finally:
            if writer.stdin is not None:
                writer.stdin.close()
            await writer.wait()
    # Each loaded phase against the idle phases on either side of it, then the median: the
    # machine's speed drifts over seconds (other work on it), less so between neighbours.
    ratios = [
        len(phase) / ((len(idle[i]) + len(idle[i + 1])) / 2) for i, phase in enumerate(loaded)
    ]
    _note(f"reads/s idle per phase: {[round(len(p) / READ_PHASE_S) for p in idle]}")
    _note(f"reads/s under writes per phase: {[round(len(p) / READ_PHASE_S) for p in loaded]}")
    _note(f"top-ups written per load phase: {writes / len(loaded):.0f}")
    for name, phases in (("idle", idle), ("under writes", loaded)):
        latencies = sorted(latency for phase in phases for latency in phase)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        _note(
            f"read latency {name}: median {statistics.median(latencies) * 1e3:.1f} ms, "
            f"p99 {p99 * 1e3:.1f} ms"
        )
    _note(f"loaded ÷ neighbouring idle per phase: {[round(r, 2) for r in ratios]}")
    return statistics.median(ratios)


# --- api_start_ratio --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def portal_worker_process(bench: Stack) -> AsyncIterator[None]:
    """`worker.py portal` on the stack's database and server, polling its queue."""
    settings = bench.settings
    env = {
        **os.environ,
        "AOS_DATABASE_URL": settings.database_url,
        "AOS_DATA_DIR": str(settings.data_dir),
        "AOS_TEMPORAL_ADDRESS": settings.temporal_address,
        "AOS_PORTAL_TASK_QUEUE": settings.portal_task_queue,
        "AOS_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "worker.py", "portal", cwd=REPOSITORY, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not await task_queue_pollers(
            bench.client, settings.portal_task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        ):
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the portal worker did not start")
            await asyncio.sleep(0.05)
        yield
    finally:
        process.terminate()
        await process.wait()


@dataclass
class StartRound:
    starts: int
    seconds: float
    cpu_seconds: float  # of this process (the callers, and the API on its side), all threads

    @property
    def rate(self) -> float:
        return self.starts / self.seconds


async def _start_round(start: Callable[[], Awaitable[None]]) -> StartRound:
    """`STARTS_PER_ROUND` starts by `STARTERS` concurrent callers."""
    remaining = iter(range(STARTS_PER_ROUND))

    async def caller() -> None:
        for _ in remaining:
            await start()

    began, cpu_began = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(STARTERS)))
    return StartRound(
        STARTS_PER_ROUND, time.perf_counter() - began, time.process_time() - cpu_began
    )


async def api_start_ratio() -> float:
    async with stack() as bench:
        factory = bench.session_factory
        await seed_demo_vehicles(factory)
        vin = load_demo_vehicles()[0].vin
        workshop_id = await create_workshop(factory)
        technician = await sign_in(factory, Role.TECHNICIAN, workshop_id)
        await long_ticket(factory, workshop_id, datetime.now(UTC))
        facts = await ServiceHistoryRepository(factory).vehicle_facts(vin)
        client = bench.client

        async def raw_start() -> None:
            # What the route does with Temporal, without the HTTP, the checks and the reads:
            # the use case's own call (one update-with-start).
            entry_id = str(uuid.uuid4())
            await start_entry(
                client,
                bench.settings,
                ServiceEntryInput(
                    entry_id=entry_id,
                    workshop_id=workshop_id,
                    kind=EntryKind.MAINTENANCE,
                    source=EntrySource.MANUAL,
                    vehicle=facts,
                    opened_by=technician.user_id,
                    vin_search=bench.settings.vin_search_value(facts.vin),
                ),
                StepCaller(workshop_id=workshop_id),
            )

        app = create_app(bench.settings, temporal=client)
        async with portal_worker_process(bench), running_api(app) as api:

            async def api_start() -> None:
                response = await api.post(
                    "/service-entries",
                    json={"vin": vin, "kind": "maintenance"},
                    headers=technician.headers,
                )
                if response.status_code != 201:
                    raise RuntimeError(f"POST /service-entries: {response.text}")

            for _ in range(10):  # warm-up: connections, caches, the worker's first tasks
                await raw_start()
                await api_start()
            rounds: dict[str, list[StartRound]] = {"raw": [], "api": []}
            for _ in range(START_ROUNDS):
                rounds["raw"].append(await _start_round(raw_start))
                rounds["api"].append(await _start_round(api_start))
    for side, runs in rounds.items():
        cpu_ms = statistics.median(r.cpu_seconds / r.starts for r in runs) * 1e3
        _note(
            f"{side} starts/s per round: {[round(r.rate, 1) for r in runs]}, "
            f"median CPU {cpu_ms:.1f} ms per start"
        )
    pairs = [api.rate / raw.rate for raw, api in zip(rounds["raw"], rounds["api"], strict=True)]
    _note(f"api ÷ raw per pair of rounds: {[round(r, 2) for r in pairs]}")
    _note(
        "best api round ÷ best raw round (the figure before session 6): "
        f"{max(r.rate for r in rounds['api']) / max(r.rate for r in rounds['raw']):.3f}"
    )
    return statistics.median(pairs)


FIGURES: dict[str, Callable[[], Awaitable[float]]] = {
    "read_rate_under_writes": read_rate_under_writes,
    "api_start_ratio": api_start_ratio,
}


async def run() -> dict[str, float]:
    return {name: await measure() for name, measure in FIGURES.items()}


if __name__ == "__main__":
    for key, value in asyncio.run(run()).items():
        print(f"{key}: {value:.4g}")
