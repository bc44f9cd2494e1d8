"""`GET /programming-sessions/{id}` serves the progress the console's live page shows, the
bytes the running segment has confirmed included, in at most two calls to Temporal.

Counted at the Temporal client's boundary: every RPC the real app sends to the dev server.
Two is what a fresh answer costs: the description gives the session's scope (its
`WorkshopId`), its history's length and the running segment's last heartbeat (among its
pending activities); the progress query gives the workflow's state (ECUs, bytes, throughput,
reason); neither answer holds the other's. The query is a task for the portal worker and its
answer changes only with the history, so it is asked only when the history has grown since it
was last asked, for whichever client asked then: a session that waits costs one call per look,
from the API or from the console's live page alike. Another workshop's session costs the
description alone, and is a 404."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from application.resources import AppResources
from console.i18n import Translator
from console.programming import live_session
from db.accounts import AccountRepository, LiveSession
from domain.accounts import Role
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from settings import Settings
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.portal_api import buy_time, register_station
from testkit.serving import running_api
from testkit.temporal_calls import CountedCalls
from tests.programming.conftest import running_station, start_session, steer

pytestmark = pytest.mark.e2e

PACKAGE = "counted-1.0.0"
DESCRIBE = ["describe_workflow_execution"]  # the history has not grown since the last query
FRESH = ["describe_workflow_execution", "query_workflow"]  # it has: the workflow is asked
STOPPED = {"needs_technician", "completed", "aborted", "refused"}


async def _counted_progress(
    api: httpx.AsyncClient, counted: CountedCalls, owner: SignedIn, session_id: str
) -> tuple[dict[str, Any], list[str]]:
    """The API's answer, and the calls to Temporal it cost."""
    counted.clear()
    response = await api.get(f"/programming-sessions/{session_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert counted.calls in (DESCRIBE, FRESH), (counted.calls, body["state"])
    return body, list(counted.calls)


async def test_progress_counts_the_running_segment_in_at_most_two_temporal_calls(
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Retries of the pulled cable back off briefly, so the session soon needs the technician.
    settings = portal_on_dev_server.model_copy(
        update={"hardware_retry_initial_seconds": 0.2, "hardware_retry_maximum_seconds": 0.5}
    )
    build_demo_package(
        settings.packages_dir / PACKAGE,
        image_size_per_ecu=192 * 1024,
        ecus=("DME", "EGS"),
        package_id=PACKAGE,
    )
    counted = CountedCalls(dev_env.client)
    owner = workshop_owner
    async with (
        running_api(create_app(settings, temporal=counted.client)) as api,
        running_station(dev_env.client, settings) as station,
    ):
        await buy_time(api, owner)
        await register_station(api, owner, station.station_id)
        car = station.vehicle
        car.faults.disconnect_after_block("DME", 20)  # the cable is pulled mid-segment
        started = await start_session(api, owner, station.station_id, car.vin, PACKAGE)
        session_id = started["session_id"]

        # While the segment's activity is retried, its last heartbeat holds the blocks the DME
        # confirmed: the answer counts them, which the workflow does once the segment is done.
        for _ in range(600):
            progress, _ = await _counted_progress(api, counted, owner, session_id)
            if progress["bytes_in_running_segment"] > 0 or progress["state"] in STOPPED:
                break
            await asyncio.sleep(0.05)
        dme = next(ecu for ecu in progress["ecus"] if ecu["ecu"] == "DME")
        assert progress["state"] == "programming", progress
        assert dme["status"] == "programming" and dme["bytes_done"] == 0, dme
        assert 0 < dme["bytes_confirmed"] < dme["bytes_total"], dme
        assert dme["percent"] == dme["bytes_confirmed"] * 100 // dme["bytes_total"], dme
        assert progress["bytes_in_running_segment"] == dme["bytes_confirmed"], progress
        assert progress["bytes_confirmed"] == progress["bytes_done"] + dme["bytes_confirmed"]
        assert progress["percent"] == progress["bytes_confirmed"] * 100 // progress["bytes_total"]

        for _ in range(1200):  # the retries run out
            progress, _ = await _counted_progress(api, counted, owner, session_id)
            if progress["state"] in STOPPED:
                break
            await asyncio.sleep(0.1)
        assert progress["state"] == "needs_technician", progress

        # Waiting, the session's history stands still: each further look costs the
        # description alone, from the API and from the console's live page alike.
        await _counted_progress(api, counted, owner, session_id)
        for _ in range(3):
            waiting, calls = await _counted_progress(api, counted, owner, session_id)
            assert calls == DESCRIBE and waiting == progress, (calls, waiting)
        signed = await AccountRepository(session_factory).signed_in(owner.token, owner.client_ip)
        assert isinstance(signed, LiveSession)
        engine: AsyncEngine = session_factory.kw["bind"]
        resources = AppResources(settings, engine, session_factory, counted.client)
        english = Translator("en", ZoneInfo("Europe/Amsterdam"))
        counted.clear()
        live = await live_session(resources, signed.user, session_id, english)
        assert counted.calls == DESCRIBE
        assert live.state == "needs_technician" and live.percent == progress["percent"]

        # Another workshop's session: the description tells it is not theirs, nothing more.
        other_workshop = await create_workshop(session_factory)
        other = await sign_in(session_factory, Role.WORKSHOP_OWNER, other_workshop)
        counted.clear()
        foreign = await api.get(f"/programming-sessions/{session_id}", headers=other.headers)
        assert foreign.status_code == 404, foreign.text
        assert counted.calls == DESCRIBE

        # A step lengthens the history: the next look asks the workflow again.
        skipped = await steer(api, owner, session_id, "skip-ecu", {"ecu": "EGS"})
        assert skipped.status_code == 200, skipped.text
        progress, calls = await _counted_progress(api, counted, owner, session_id)
        assert calls == FRESH
        assert {ecu["ecu"]: ecu["status"] for ecu in progress["ecus"]}["EGS"] == "skipped"

        aborted = await steer(api, owner, session_id, "abort", {"reason": "counted enough"})
        assert aborted.status_code == 200, aborted.text
        final, calls = await _counted_progress(api, counted, owner, session_id)
        assert calls == FRESH
        assert final["state"] == "aborted" and final["bytes_in_running_segment"] == 0, final
