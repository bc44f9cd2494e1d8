"""Long polls: a station polls its own queue, and a task it gets is checked, decoded and sealed.

A poll the gateway takes is noted (`note_poll`, at most every `POLL_NOTE_INTERVAL` per
station), before it is forwarded: so the portal knows the station's worker runs even while the
frontend, just restarted, does not list it among the queue's pollers, or cannot be reached.
A task arriving for a token replaced meanwhile, or whose payloads the gateway cannot decode, is
handed back to the frontend (failed, so it is retried now) instead of to the station.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import grpc
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
)
from temporalio.converter import PayloadCodec

from gateway.auth import NotePoll, StationAuthentication
from gateway.config import GatewayConfig
from gateway.frontend import Context, Frontend
from gateway.payloads import activity_context, decode_task, with_context
from gateway.rules import Refused, Rules
from gateway.tokens import TaskTokens

log = logging.getLogger(__name__)

# A station's worker polls at least every ~70 s (a long poll's end), and every few seconds while
# the frontend is away; noting it this often keeps the note well within the API's
# `application.workflow_calls.POLLER_FRESHNESS` (2 minutes) at one write per station per interval.
POLL_NOTE_INTERVAL = 30.0
POLL_NOTE_TIMEOUT = 2.0


@dataclass
class Polls:
    """A station's long polls, from its checks to the task it is handed."""

    config: GatewayConfig
    rules: Rules
    tokens: TaskTokens
    frontend: Frontend
    authentication: StationAuthentication
    codec: PayloadCodec | None
    note_poll: NotePoll | None
    # station -> monotonic time of its last note
    _polls_noted: dict[str, float] = field(default_factory=dict, init=False)

    async def poll(
        self,
        call: str,
        request: PollActivityTaskQueueRequest,
        station: str,
        token: str,
        context: Context,
    ) -> bytes:
        """The poll at the frontend, if the station may poll this queue; a task it brings
        comes back with its payloads decoded and its token sealed for this station."""
        self.rules.poll(station, request)
        await self._noted(station)
        raw = await self.frontend.forward(call, request, station, token, context)
        task = PollActivityTaskQueueResponse.FromString(raw)
        if not task.task_token:
            return raw  # the poll ended without a task
        # Through the cache (`authentication_ttl`): a task arriving within a second of a
        # replacement may still go to the old token's holder, the same station, cut off soon.
        if not await self.authentication.still_authenticated(token, station):
            await self.frontend.give_back(task, "the station's token was replaced while it polled")
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "the station token was replaced")
        serialization = activity_context(task, self.config.namespace, request.task_queue.name)
        if self.codec is not None:
            try:
                await decode_task(with_context(self.codec, serialization), task)
            except Exception as err:
                log.exception("cannot decode the payloads of a task for station %s", station)
                await self.frontend.give_back(
                    task, f"the gateway could not decode the payloads: {err}"
                )
                return PollActivityTaskQueueResponse().SerializeToString()
        task.task_token = self.tokens.grant(station, task, serialization)
        return task.SerializeToString()

    async def _noted(self, station: str) -> None:
        """Note the station's poll, unless noted within `POLL_NOTE_INTERVAL`. A note that
        fails (database away) is logged and the poll goes on: it is a hint, not a gate."""
        now = time.monotonic()
        last = self._polls_noted.get(station)
        if self.note_poll is None or (last is not None and now - last < POLL_NOTE_INTERVAL):
            return
        self._polls_noted[station] = now
        try:
            async with asyncio.timeout(POLL_NOTE_TIMEOUT):
                await self.note_poll(station)
        except Exception:
            log.warning("cannot note a poll of station %s", station, exc_info=True)
