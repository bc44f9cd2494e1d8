"""Task answers: a station's heartbeats and final answers, only for tasks handed to it.

The station's sealed task token is checked against what it was handed (`tokens`), replaced by
the frontend's own token, and the answer's payloads are encoded with the task's context. A
final answer spends its token as it is checked, so a second answer with it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from temporalio.converter import PayloadCodec

from gateway.calls import Kind
from gateway.frontend import Context, Frontend, Upstream
from gateway.payloads import encode_answer, with_context
from gateway.rules import Refused, Rules, TaskAnswer
from gateway.tokens import TaskTokens


@dataclass
class Answers:
    """Forwards a station's answers to the tasks it holds."""

    rules: Rules
    tokens: TaskTokens
    frontend: Frontend
    codec: PayloadCodec | None

    async def answer(
        self, kind: Kind, call: str, request: TaskAnswer, station: str, token: str, context: Context
    ) -> bytes:
        """The answer at the frontend, under the task's own token and encoded payloads."""
        self.rules.task_answer(station, request)  # before the token: what it refuses, it names
        sealed = request.task_token
        final = kind is Kind.FINAL
        # A final answer spends its token as it is checked, before the first await: a second
        # answer with it, even one arriving while this one is on its way, is refused here.
        grant = self.tokens.claim(station, sealed) if final else self.tokens.lookup(station, sealed)
        if grant is None:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                "the task token was not handed to this station, or its task has ended "
                "or is being answered",
            )
        try:
            request.task_token = grant.server_token
            if self.codec is not None:
                await encode_answer(with_context(self.codec, grant.context), request)
            raw = await self.frontend.forward(call, request, station, token, context)
        except Upstream as upstream:
            if upstream.code == grpc.StatusCode.NOT_FOUND:  # the attempt is gone server-side
                self.tokens.spend(sealed)
            elif final:
                self.tokens.release(sealed, grant)
            raise
        except BaseException:
            # Not answered (cut off, cancelled by the station, or the gateway failed): the
            # frontend, which refuses a second answer itself, decides a retry.
            if final:
                self.tokens.release(sealed, grant)
            raise
        if not final:
            self.tokens.heartbeat_recorded(sealed)
        return raw
