"""The live page's stream asks the workflow for its progress only when something happened.

The progress query is a task for the portal worker; a watched session that waits for the
technician (or downloads a long segment) changes nothing the query would tell, so the stream
reads the description (which it needs for the heartbeat anyway) and asks again only once the
history has grown. What it shows after a change is the new state, never the kept one."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from application.programming import ProgressCache, session_progress
from application.resources import AppResources
from db.accounts import AccountRepository, LiveSession
from settings import Settings
from testkit.factories import SignedIn
from testkit.temporal_calls import CountedCalls
from tests.programming.conftest import session_needing_technician, steer

pytestmark = pytest.mark.e2e


async def test_the_stream_asks_again_only_after_the_session_changed(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_needing_technician(
        api_client, portal_on_dev_server, dev_env.client, workshop_owner, "watch-1.0.0"
    ) as started:
        session_id = started["session_id"]

        watching = CountedCalls(dev_env.client)
        engine: AsyncEngine = session_factory.kw["bind"]
        resources = AppResources(portal_on_dev_server, engine, session_factory, watching.client)
        signed = await AccountRepository(session_factory).signed_in(
            workshop_owner.token, workshop_owner.client_ip
        )
        assert isinstance(signed, LiveSession)
        cache = ProgressCache()

        for _ in range(3):  # the stream's ticks while the session waits
            moment = await session_progress(resources, signed.user, session_id, cache)
            assert moment.state == "needs_technician"
        assert watching.calls.count("query_workflow") == 1
        assert watching.calls.count("describe_workflow_execution") == 3

        skipped = await steer(api_client, workshop_owner, session_id, "skip-ecu", {"ecu": "EGS"})
        assert skipped.status_code == 200, skipped.text
        moment = await session_progress(resources, signed.user, session_id, cache)
        assert {ecu.ecu: ecu.status for ecu in moment.ecus}["EGS"] == "skipped"
        assert watching.calls.count("query_workflow") == 2

        aborted = await steer(
            api_client, workshop_owner, session_id, "abort", {"reason": "watched enough"}
        )
        assert aborted.status_code == 200, aborted.text
