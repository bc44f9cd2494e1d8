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
from settings import Settings
from testkit.factories import SignedIn
from tests.programming.conftest import session_needing_technician, steer

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
    async with session_needing_technician(
        api_client, portal_on_dev_server, dev_env.client, workshop_owner, "watch-1.0.0"
    ) as started:
        session_id = started["session_id"]

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

        skipped = await steer(api_client, workshop_owner, session_id, "skip-ecu", {"ecu": "EGS"})
        assert skipped.status_code == 200, skipped.text
        moment = await live_session(watching, signed.user, session_id, english, cache)
        assert {ecu.ecu: ecu.status for ecu in moment.ecus}["EGS"] == "skipped"
        assert queries.sent == 2

        aborted = await steer(
            api_client, workshop_owner, session_id, "abort", {"reason": "watched enough"}
        )
        assert aborted.status_code == 200, aborted.text
