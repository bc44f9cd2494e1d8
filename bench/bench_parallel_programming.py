"""Programming with the simulated car's timing model on: ECUs that take the time real ECUs take
to erase, write, check and restart (`hw.sim` `--timing-scale`), so what is measured is what a
workshop waits for, not only the protocol.

- `parallel_programming_speedup`: the same 4-ECU DoIP package (256 KiB per ECU), the session
  with its ECUs one after another (`"parallel": false`) ÷ the session with the plan's parallel
  lanes; each on a fresh car in its own process, through the API, the portal worker and a
  station worker; best of two runs each.
- `concurrent_sessions_slowdown_10`: 10 sessions on 10 stations at once (10 cars in their own
  processes at the timing model's real speed, 10 station workers through one gateway process,
  one portal worker, one API) ÷ one session alone on the same set-up: the mean session time of
  the ten ÷ the time of the one.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.bench_programming import (
    CAR_VIN,
    Bench,
    _dev_server,
    _package,
    car_process,
    gateway_process,
)
from domain.accounts import Role
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from station.worker import StationDependencies, station_worker
from temporal_client import connect_through_gateway
from testkit.factories import create_workshop, sign_in
from testkit.portal_api import buy_time, register_station
from testkit.serving import running_api
from testkit.station_gateway import station_token
from workflows.programming_session import ProgrammingSessionWorkflow

KIB = 1024
# The ECUs' timings (`hw.sim.config`: about 22 ms per KiB erased and written, seconds to check
# and restart). The speed-up is a ratio of ECU times, the same at any scale: at half speed it
# runs in half the time. The ten sessions run at real speed (a 256 KiB ECU takes about 8 s):
# what they measure is whether the portal, the gateway and the stations keep up with cars that
# take the time real cars take, and on this 2-core machine the ten simulated cars, ten station
# workers, the gateway and the Temporal server share two cores (at half speed: 1.89, CPU-bound).
SPEEDUP_TIMING_SCALE = 0.5
CONCURRENT_TIMING_SCALE = 1.0
PACKAGE = "bench-timed-256k"
SESSIONS = 10


async def sessions_at_once(
    bench: Bench, package_id: str, car_urls: list[str], gateway: str, *, parallel: bool = True
) -> list[float]:
    """One session per car, all started together: each on its own station (its worker through
    `gateway`) of its own workshop; one portal worker and one API serve them all. The seconds
    of each from POST /programming-sessions to its end."""
    client = bench.env.client
    portal = PortalDependencies(bench.settings, bench.session_factory)
    app = create_app(bench.settings, temporal=client)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(
            portal_worker(client, portal, bench.settings.portal_task_queue)
        )
        api = await stack.enter_async_context(running_api(app))
        starts = []
        for url in car_urls:
            station_id = f"bench-{uuid.uuid4().hex[:6]}"
            workshop_id = await create_workshop(bench.session_factory)
            owner = await sign_in(bench.session_factory, Role.WORKSHOP_OWNER, workshop_id)
            token = await station_token(bench.settings, station_id)
            station_client = await connect_through_gateway(bench.settings, token, address=gateway)
            deps = StationDependencies(
                station_id, url, bench.settings.packages_dir, bench.settings.traces_dir
            )
            queue = bench.settings.station_task_queue(station_id)
            await stack.enter_async_context(station_worker(station_client, deps, queue))
            await buy_time(api, owner)
            await register_station(api, owner, station_id)
            body = {
                "station_id": station_id,
                "vin": CAR_VIN,
                "package_id": package_id,
                "parallel": parallel,
            }
            starts.append((body, owner.headers))

        async def one(body: dict[str, object], headers: dict[str, str]) -> float:
            began = time.perf_counter()
            answer = await api.post("/programming-sessions", json=body, headers=headers)
            answer.raise_for_status()
            handle = client.get_workflow_handle_for(
                ProgrammingSessionWorkflow.run, answer.json()["workflow_id"]
            )
            report = await handle.result()
            if report.state != "completed":
                raise RuntimeError(f"a benchmark session ended {report.state}: {report.reason}")
            return time.perf_counter() - began

        return list(await asyncio.gather(*(one(*start) for start in starts)))


async def _timed_sessions(
    bench: Bench, gateway: str, cars: int, timing_scale: float, *, parallel: bool = True
) -> list[float]:
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(car_process(CAR_VIN, timing_scale=timing_scale))
            for _ in range(cars)
        ]
        return await sessions_at_once(bench, PACKAGE, urls, gateway, parallel=parallel)


async def _measure(bench: Bench, figures: dict[str, float]) -> None:
    _package(bench.settings, PACKAGE, 256 * KIB)
    with gateway_process(bench.settings) as gateway:
        if "parallel_programming_speedup" in figures:
            sequential, parallel = [], []
            for _ in range(2):  # interleaved; the best of each, as load only adds
                scale = SPEEDUP_TIMING_SCALE
                sequential += await _timed_sessions(bench, gateway, 1, scale, parallel=False)
                parallel += await _timed_sessions(bench, gateway, 1, scale)
            print(
                f"# timed 4-ECU DoIP session: one after another {min(sequential):.2f} s, "
                f"parallel lanes {min(parallel):.2f} s (runs: {sequential}, {parallel})",
                file=sys.stderr,
            )
            figures["parallel_programming_speedup"] = min(sequential) / min(parallel)
        if "concurrent_sessions_slowdown_10" in figures:
            alone = (await _timed_sessions(bench, gateway, 1, CONCURRENT_TIMING_SCALE))[0]
            together = await _timed_sessions(bench, gateway, SESSIONS, CONCURRENT_TIMING_SCALE)
            mean = sum(together) / len(together)
            print(
                f"# {SESSIONS} sessions at once through one gateway: mean {mean:.2f} s "
                f"(slowest {max(together):.2f} s), one alone {alone:.2f} s",
                file=sys.stderr,
            )
            figures["concurrent_sessions_slowdown_10"] = mean / alone


async def _figures(names: list[str]) -> dict[str, float]:
    figures = dict.fromkeys(names, 0.0)
    env = await _dev_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(env, Path(tmp))
            await _measure(bench, figures)
            await bench.engine.dispose()
    finally:
        await env.shutdown()
    return figures


async def parallel_programming_speedup() -> float:
    return (await _figures(["parallel_programming_speedup"]))["parallel_programming_speedup"]


async def concurrent_sessions_slowdown_10() -> float:
    figures = await _figures(["concurrent_sessions_slowdown_10"])
    return figures["concurrent_sessions_slowdown_10"]


FIGURES: dict[str, Callable[[], Awaitable[float]]] = {
    "parallel_programming_speedup": parallel_programming_speedup,
    "concurrent_sessions_slowdown_10": concurrent_sessions_slowdown_10,
}


async def run() -> dict[str, float]:
    return await _figures(list(FIGURES))
