"""The programming plan's estimate from the timing figures the ECUs report (DID 0xF1A0), on a
car with the timing model on, against purchased time on the time-skipping server.

The DME reports a slow check memory (60 s a segment): the plan estimates it from its figures,
far above what the throughput alone would say (~20 s an ECU). One minute of purchased time
would hold the throughput's estimate but not the figures', so the session waits for time
before it touches any ECU. `GET /programming-sessions/{id}` shows the plan with each ECU's
estimate and where it comes from, and `aos flash plan` prints the lanes, ECUs and estimate.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.programming import (
    DEFAULT_THROUGHPUT_BYTES_PER_SECOND,
    SAFETY_MARGIN,
    estimate_ecu_duration,
)
from domain.programming_timing import ProgrammingTiming, estimate_programming_seconds
from hw.flash_files import read_manifest
from hw.sim.config import default_vehicle_config, tune_ecu
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from settings import Settings
from testkit.factories import sign_in
from testkit.portal_api import register_station
from testkit.serving import serving_api
from tests.programming.conftest import progress_of, running_station, start_session
from tests.programming.test_aos_cli import _aos, aos_login, with_password_and_totp
from tests.programming.test_programming_time import (
    _buy_hour,
    _stop_entitlement,
    _workshop_with_credit,
)

PACKAGE = "plan-test"
# A real ECU's figures, but a check memory of a minute (a large image's CRC on a slow core).
SLOW_CHECK = ProgrammingTiming(
    erase_ms_per_kib=10.0, write_ms_per_kib=12.0, check_ms=60_000.0, reset_ms=1500.0
)


async def test_plan_estimates_from_the_ecus_figures_and_waits_for_time(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    env, settings = time_skipping_env, portal_on_time_skipping_server
    build_demo_package(
        settings.packages_dir / PACKAGE,
        image_size_per_ecu=8 * 1024,
        ecus=("DME", "EGS"),
        package_id=PACKAGE,
    )
    manifest = read_manifest(settings.packages_dir / PACKAGE)
    workshop_id = await _workshop_with_credit(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    secret = await with_password_and_totp(session_factory, owner)
    await _buy_hour(env, settings.portal_task_queue, workshop_id)
    await env.sleep(timedelta(minutes=59))  # 60 s of the hour are left

    # The model at real speed (scale 1): the ECUs report their figures unscaled.
    car = tune_ecu(default_vehicle_config(timing_scale=1.0), "DME", timing=SLOW_CHECK)
    config = tmp_path / "session.json"
    async with (
        serving_api(create_app(settings, temporal=env.client)) as base,
        running_station(env.client, settings, car) as station,
        httpx.AsyncClient(base_url=base) as api,
    ):
        await register_station(api, owner, station.station_id)
        started = await start_session(
            api, owner, station.station_id, station.vehicle.vin, package_id=PACKAGE
        )
        session_id = started["session_id"]
        with env.auto_time_skipping_disabled():
            for _ in range(600):
                progress = await progress_of(api, owner.headers, session_id)
                if progress["state"] == "waiting_for_time":
                    break
                await asyncio.sleep(0.1)
        assert progress["state"] == "waiting_for_time", progress

        # What the ECUs report, decoded by the estimate: DME slow, EGS the default figures.
        egs = station.vehicle.ecu("EGS").timing
        assert egs is not None
        expected = {
            ecu: estimate_programming_seconds(
                timing,
                [segment.length for segment in manifest.ecu(ecu).segments],
                transfer_bytes_per_second=DEFAULT_THROUGHPUT_BYTES_PER_SECOND,
            )
            for ecu, timing in (("DME", SLOW_CHECK), ("EGS", egs))
        }
        plan = progress["plan"]
        assert plan["timing_from_ecu"] == ["DME", "EGS"]
        assert plan["estimated_ecu_seconds"] == {
            ecu: pytest.approx(seconds) for ecu, seconds in expected.items()
        }
        # On a CAN bus: one lane, DME then EGS, their estimates add up (> 2 minutes).
        assert [lane["ecus"] for lane in plan["lanes"]] == [["DME", "EGS"]]
        assert plan["estimated_seconds"] == pytest.approx(sum(expected.values()))
        assert plan["estimated_seconds"] > 120
        # The throughput's estimate would have fitted the minute left: the figures decided.
        by_throughput = sum(
            estimate_ecu_duration(
                manifest.ecu(ecu).total_bytes, DEFAULT_THROUGHPUT_BYTES_PER_SECOND
            ).total_seconds()
            for ecu in ("DME", "EGS")
        )
        assert by_throughput * SAFETY_MARGIN < 60
        assert f"the plan needs about {int(plan['estimated_seconds'])} s" in progress["reason"]
        assert [e["status"] for e in progress["ecus"]] == ["pending", "pending"]
        assert station.vehicle.ecu("DME").stats.erases == 0  # nothing was touched

        # The technician's terminal shows the same plan before anything starts.
        await aos_login(config, base, owner, secret)
        code, out = await _aos(config, "flash", "plan", session_id)
        assert code == 0, out
        estimated = round(plan["estimated_seconds"])
        dme, egs_seconds = (round(expected[ecu]) for ecu in ("DME", "EGS"))
        assert "Plan: 1 lane(s), lanes in parallel, at most 4 at once" in out
        assert (
            f"lane 1: DME (~{dme} s, the ECU's figures) -> EGS (~{egs_seconds} s, the ECU's "
            "figures)"
        ) in out
        assert f"Estimated duration: {timedelta(seconds=estimated)} ({estimated} s)" in out
        assert "state waiting_for_time" in out

        aborted = await api.post(
            f"/programming-sessions/{session_id}/abort",
            json={"reason": "test finished"},
            headers=owner.headers,
        )
        assert aborted.status_code == 200, aborted.text
    await _stop_entitlement(env, workshop_id)
