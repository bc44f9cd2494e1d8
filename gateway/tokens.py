"""Which task tokens each station may answer with: only those the gateway handed it.

A task token is the server's address of one activity attempt; whoever holds one can complete,
fail or heartbeat that attempt. Server tokens are serialized protos a station could forge for
another station's activity (workflow id, run id and event id are all it takes), so a station
never sees one: the gateway hands out a sealed token instead, the server's token with its
serialization context encrypted and authenticated (AES-256-GCM) under the gateway's key, with
the station's id and the attempt's deadline as associated data. A station can neither read
what is inside nor change it, nor use it as another station: the answer is accepted only with
a sealed token that this key made for the answering station, before its deadline; the gateway
then forwards the server's token inside it.

A sealed token is spent by its final answer before that answer is forwarded (`claim`), so a
replay is refused even while the first answer is still on its way; it is forgotten once its
timeouts have passed. The seal outlives the gateway process: with the same key (derived from
AOS_SECRET_KEY), a restarted gateway or another replica accepts the answers of tasks handed out
before, so a station's running transfer is not lost with a gateway restart. Only the record of
spent tokens is per process: after a restart, a replayed final answer reaches the frontend,
which refuses it because the attempt has ended.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import PollActivityTaskQueueResponse
from temporalio.converter import ActivitySerializationContext

# The server always sets a start-to-close timeout on activity tasks; this only bounds memory
# should a task ever arrive without one.
FALLBACK_LIFETIME = 24 * 3600.0
# v2: encrypted. (v1, b"aosgw1", was the server's token in the clear under an HMAC; a gateway
# of this version refuses those, so answers to tasks handed out before the upgrade fail and
# the server retries them once their timeouts pass.)
SEAL = b"aosgw2"
DEADLINE = struct.Struct(">d")
HEADER_SIZE = len(SEAL) + DEADLINE.size
NONCE_SIZE = 12
TAG_SIZE = 16


def _seconds(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def task_token_key(secret: str) -> bytes:
    """The gateways' key for sealing task tokens, from the portal's secret (a label of its own,
    so it is no other use's key)."""
    return hashlib.sha256(b"aos-gateway-task-token-seal-v2\x00" + secret.encode()).digest()


@dataclass
class Grant:
    """One task handed to one station."""

    station_id: str
    server_token: bytes
    context: ActivitySerializationContext
    deadline: float  # start-to-close / schedule-to-close of this attempt (clock seconds)
    heartbeat_timeout: float | None
    heartbeat_deadline: float | None

    def expires_at(self, grace: float) -> float:
        end = self.deadline
        if self.heartbeat_deadline is not None:
            end = min(end, self.heartbeat_deadline)
        return end + grace


class Seal:
    """`SEAL | deadline | nonce | AES-256-GCM(server token, heartbeat timeout, context)`, with
    the header and the station's id as associated data. The deadline stays readable (the
    station knows its task's timeouts anyway) so that it is bound without being secret."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def close(self, grant: Grant) -> bytes:
        header = SEAL + DEADLINE.pack(grant.deadline)
        body = json.dumps(
            {
                "token": base64.b64encode(grant.server_token).decode(),
                "heartbeat": grant.heartbeat_timeout,
                "context": asdict(grant.context),
            },
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(NONCE_SIZE)  # random: 2**32 seals per key stay far from a repeat
        return header + nonce + self._aead.encrypt(nonce, body, header + grant.station_id.encode())

    def open(self, station_id: str, token: bytes) -> Grant | None:
        """The grant inside, if this key sealed it for this station; None otherwise."""
        if not token.startswith(SEAL) or len(token) < HEADER_SIZE + NONCE_SIZE + TAG_SIZE:
            return None
        header = token[:HEADER_SIZE]
        nonce = token[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE]
        try:
            body = self._aead.decrypt(
                nonce, token[HEADER_SIZE + NONCE_SIZE :], header + station_id.encode()
            )
        except InvalidTag:
            return None
        fields = json.loads(body)
        heartbeat: float | None = fields["heartbeat"]
        return Grant(
            station_id=station_id,
            server_token=base64.b64decode(fields["token"]),
            context=ActivitySerializationContext(**fields["context"]),
            deadline=DEADLINE.unpack(header[len(SEAL) :])[0],
            heartbeat_timeout=heartbeat,
            # A restarted gateway has not seen the last heartbeat; the server's heartbeat
            # timer is the authority until the next one.
            heartbeat_deadline=None,
        )


class TaskTokens:
    """Sealed token -> grant, with expiry on the task's own timeouts plus a grace."""

    def __init__(
        self, grace: float, key: bytes | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._grace = grace
        self._seal = Seal(key or os.urandom(32))  # no key: tokens good for this process only
        self._clock = clock
        self._grants: dict[bytes, Grant] = {}
        self._spent: dict[bytes, float] = {}  # sealed token -> when it may be forgotten
        self._swept_at = clock()

    def __len__(self) -> int:
        return len(self._grants)

    def grant(
        self,
        station_id: str,
        task: PollActivityTaskQueueResponse,
        context: ActivitySerializationContext,
    ) -> bytes:
        """Record the task for the station; the sealed token to hand it instead of the
        server's."""
        now = self._clock()
        self._sweep(now)
        limits = []
        if task.HasField("start_to_close_timeout") and _seconds(task.start_to_close_timeout) > 0:
            limits.append(_seconds(task.start_to_close_timeout))
        if (
            task.HasField("schedule_to_close_timeout")
            and _seconds(task.schedule_to_close_timeout) > 0
        ):
            elapsed = 0.0
            if task.HasField("scheduled_time") and task.HasField("started_time"):
                started, scheduled = task.started_time, task.scheduled_time
                elapsed = max(0.0, started.ToNanoseconds() / 1e9 - scheduled.ToNanoseconds() / 1e9)
            limits.append(_seconds(task.schedule_to_close_timeout) - elapsed)
        heartbeat = _seconds(task.heartbeat_timeout) if task.HasField("heartbeat_timeout") else 0.0
        grant = Grant(
            station_id=station_id,
            server_token=task.task_token,
            context=context,
            deadline=now + (min(limits) if limits else FALLBACK_LIFETIME),
            heartbeat_timeout=heartbeat or None,
            heartbeat_deadline=now + heartbeat if heartbeat else None,
        )
        sealed = self._seal.close(grant)
        self._grants[sealed] = grant
        return sealed

    def lookup(self, station_id: str, token: bytes) -> Grant | None:
        """The grant behind a sealed token of this station, or None (forged, another
        station's, spent or expired)."""
        now = self._clock()
        if token in self._spent:
            return None
        grant = self._grants.get(token) or self._seal.open(station_id, token)
        if grant is None or grant.station_id != station_id:
            return None
        if grant.expires_at(self._grace) <= now:
            self._grants.pop(token, None)
            return None
        self._grants[token] = grant  # sealed by a gateway before a restart: known from now on
        return grant

    def claim(self, station_id: str, token: bytes) -> Grant | None:
        """For a final answer: the grant, spent in the same step as it is looked up.

        Two answers with one token that arrive together would otherwise both pass `lookup`
        while the first is still on its way to the frontend. Nothing awaits between the check
        and the mark, so on the gateway's one event loop no other call comes in between. If
        the answer then does not reach the frontend, `release` makes the token usable again.
        """
        grant = self.lookup(station_id, token)
        if grant is not None:
            self.spend(token)
        return grant

    def release(self, token: bytes, grant: Grant) -> None:
        """A claimed answer that did not get through (the frontend unavailable, the station
        cut off, or refused for its content): the station may answer again, e.g. the SDK's
        RespondActivityTaskFailed after a result the frontend found too large."""
        self._spent.pop(token, None)
        self._grants[token] = grant

    def heartbeat_recorded(self, token: bytes) -> None:
        """The server saw a heartbeat: the heartbeat timeout starts over."""
        grant = self._grants.get(token)
        if grant is not None and grant.heartbeat_timeout is not None:
            grant.heartbeat_deadline = self._clock() + grant.heartbeat_timeout

    def spend(self, token: bytes) -> None:
        grant = self._grants.pop(token, None)
        forget_at = grant.expires_at(self._grace) if grant else self._clock() + FALLBACK_LIFETIME
        self._spent[token] = forget_at

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < 1.0:
            return
        self._swept_at = now
        for token in [t for t, g in self._grants.items() if g.expires_at(self._grace) <= now]:
            del self._grants[token]
        for token in [t for t, forget_at in self._spent.items() if forget_at <= now]:
            del self._spent[token]


def server_token_of(sealed: bytes, key: bytes, station_id: str) -> bytes:
    """The server's token inside a sealed one, for inspection (with the gateway's key)."""
    grant = Seal(key).open(station_id, sealed)
    if grant is None:
        raise ValueError("not sealed with this key for this station")
    return grant.server_token
