"""The live page's stream asks the workflow for its progress only when something happened.

The progress query is a task for the portal worker; a watched session that waits for the
technician (or downloads a long segment) changes nothing the query would tell, so the stream
reads the description (which it needs for the heartbeat anyway) and asks again only once the
history has grown. What it shows after a change is the new state, never the kept one."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.testing import WorkflowEnvironment

from console.i18n import Translator
from console.programming import ProgressCache, live_session
from db.accounts import AccountRepository, LiveSession
from hw.sim.config import default_vehicle_config
from hw.sim.demo_package import build_demo_package
from settings import Settings
from tests.factories import SignedIn
from tests.programming.conftest import (
    buy_time,
    register_station,
    running_station,
    start_session,
    wait_until_ended,
)

pytestmark = pytest.mark.e2e


class CountedQueries(Interceptor):
    """Counts the workflow queries a client sends."""

    def __init__(self) -> None:
        self.sent = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Counting(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                counter.sent += 1
                return await super().query_workflow(input)

        return Counting(next)


async def test_the_stream_asks_again_only_after_the_session_changed(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    settings = portal_on_dev_server
    build_demo_package(
        settings.packages_dir / "watch-1.0.0", image_size_per_ecu=8 * 1024, ecus=("DME", "EGS")
    )
    await buy_time(api_client, workshop_owner)
    config = default_vehicle_config()
    config.ecu("DME").hardware_id = "not-the-package-target"  # waits for the technician

    async with running_station(dev_env.client, settings, config) as station:
        await register_station(api_client, workshop_owner, station.station_id)
        started = await start_session(
            api_client, workshop_owner, station.station_id, station.vehicle.vin, "watch-1.0.0"
        )
        session_id = started["session_id"]
        waiting = await wait_until_ended(api_client, workshop_owner.headers, session_id)
        assert waiting["state"] == "needs_technician"

        queries = CountedQueries()
        watching = Client(
            dev_env.client.service_client,
            namespace=dev_env.client.namespace,
            data_converter=dev_env.client.data_converter,
            interceptors=[queries],
        )
        signed = await AccountRepository(session_factory).signed_in(
            workshop_owner.token, workshop_owner.client_ip
        )
        assert isinstance(signed, LiveSession)
        english = Translator("en", ZoneInfo("Europe/Amsterdam"))
        cache = ProgressCache()

        for _ in range(3):  # the stream's ticks while the session waits
            moment = await live_session(watching, signed.user, session_id, english, cache)
            assert moment.state == "needs_technician"
        assert queries.sent == 1

        skipped = await api_client.post(
            f"/programming-sessions/{session_id}/skip-ecu",
            json={"ecu": "EGS"},
            headers=workshop_owner.headers,
        )
        assert skipped.status_code == 200, skipped.text
        moment = await live_session(watching, signed.user, session_id, english, cache)
        assert {ecu.ecu: ecu.status for ecu in moment.ecus}["EGS"] == "skipped"
        assert queries.sent == 2

        aborted = await api_client.post(
            f"/programming-sessions/{session_id}/abort",
            json={"reason": "watched enough"},
            headers=workshop_owner.headers,
        )
        assert aborted.status_code == 200, aborted.text
