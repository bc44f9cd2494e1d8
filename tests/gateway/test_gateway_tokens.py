"""Task tokens: only the station that got one may use it, and not past the task's timeouts."""

from __future__ import annotations

import base64

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import PollActivityTaskQueueResponse
from temporalio.converter import ActivitySerializationContext

from gateway.tokens import TaskTokens, server_token_of, task_token_key

CONTEXT = ActivitySerializationContext(
    namespace="default",
    activity_id="1",
    activity_type="job",
    activity_task_queue="station-a",
    workflow_id="wf",
    workflow_type="Wf",
    is_local=False,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def task(
    token: bytes,
    start_to_close: int = 60,
    schedule_to_close: int = 0,
    heartbeat: int = 0,
    waited: int = 0,
) -> PollActivityTaskQueueResponse:
    response = PollActivityTaskQueueResponse(
        task_token=token,
        start_to_close_timeout=Duration(seconds=start_to_close),
        scheduled_time=Timestamp(seconds=5000),
        started_time=Timestamp(seconds=5000 + waited),
    )
    if schedule_to_close:
        response.schedule_to_close_timeout.CopyFrom(Duration(seconds=schedule_to_close))
    if heartbeat:
        response.heartbeat_timeout.CopyFrom(Duration(seconds=heartbeat))
    return response


KEY = b"k" * 32


def test_a_token_belongs_to_the_station_it_was_handed_to() -> None:
    tokens = TaskTokens(grace=10, key=KEY, clock=Clock())
    server = b"\x0a\x24server-token-of-workflow-wf-run-r-event-5"
    t1 = tokens.grant("a", task(server), CONTEXT)
    # The station never sees the server's token, nor anything else inside, in any encoding.
    # (Only strings long enough that random ciphertext bytes cannot match them by chance.)
    for inside in (server, base64.b64encode(server), b'"token"', b'"context"', b"station-a"):
        assert inside not in t1
    grant = tokens.lookup("a", t1)
    assert grant is not None and grant.server_token == server
    assert tokens.lookup("b", t1) is None
    assert tokens.lookup("a", t1 + b"\x00") is None
    assert tokens.lookup("a", server) is None  # the server's own token is not a sealed one
    tokens.spend(t1)
    assert tokens.lookup("a", t1) is None  # replayed after the final answer


def test_a_sealed_token_outlives_the_gateway_only_with_its_key() -> None:
    clock = Clock()
    before = TaskTokens(grace=10, key=KEY, clock=clock)
    t1 = before.grant("a", task(b"t1", start_to_close=60), CONTEXT)
    restarted = TaskTokens(grace=10, key=KEY, clock=clock)
    grant = restarted.lookup("a", t1)
    assert grant is not None and grant.server_token == b"t1" and grant.context == CONTEXT
    assert restarted.lookup("b", t1) is None
    assert TaskTokens(grace=10, key=b"x" * 32, clock=clock).lookup("a", t1) is None
    # Any byte changed, the deadline's above all, and the seal does not open.
    for at in range(len(t1)):
        tampered = t1[:at] + bytes([t1[at] ^ 0x01]) + t1[at + 1 :]
        assert restarted.lookup("a", tampered) is None, at
    clock.now += 71
    assert TaskTokens(grace=10, key=KEY, clock=clock).lookup("a", t1) is None  # past its end


def test_a_token_expires_with_start_to_close_plus_grace() -> None:
    clock = Clock()
    tokens = TaskTokens(grace=10, key=KEY, clock=clock)
    t1 = tokens.grant("a", task(b"t1", start_to_close=60), CONTEXT)
    clock.now += 69
    assert tokens.lookup("a", t1) is not None
    clock.now += 1
    assert tokens.lookup("a", t1) is None
    assert len(tokens) == 0


def test_schedule_to_close_counts_from_the_first_schedule() -> None:
    clock = Clock()
    tokens = TaskTokens(grace=0, key=KEY, clock=clock)
    # 100 s overall, 80 s of which went by before this attempt started.
    t1 = tokens.grant(
        "a", task(b"t1", start_to_close=60, schedule_to_close=100, waited=80), CONTEXT
    )
    clock.now += 19
    assert tokens.lookup("a", t1) is not None
    clock.now += 1
    assert tokens.lookup("a", t1) is None


def test_heartbeats_keep_a_token_alive_up_to_the_task_timeout() -> None:
    clock = Clock()
    tokens = TaskTokens(grace=0, key=KEY, clock=clock)
    t1 = tokens.grant("a", task(b"t1", start_to_close=60, heartbeat=10), CONTEXT)
    clock.now += 9
    tokens.heartbeat_recorded(t1)
    clock.now += 9
    assert tokens.lookup("a", t1) is not None  # 18 s in, heartbeat 9 s ago
    clock.now += 1
    assert tokens.lookup("a", t1) is None  # 10 s without a heartbeat


def test_expired_tokens_are_swept_when_new_ones_arrive() -> None:
    clock = Clock()
    tokens = TaskTokens(grace=0, key=KEY, clock=clock)
    tokens.grant("a", task(b"t1", start_to_close=5), CONTEXT)
    clock.now += 6
    tokens.grant("a", task(b"t2", start_to_close=5), CONTEXT)
    assert len(tokens) == 1


def test_a_claimed_token_is_spent_at_once_and_given_back_on_release() -> None:
    tokens = TaskTokens(grace=10, key=KEY, clock=Clock())
    t1 = tokens.grant("a", task(b"t1"), CONTEXT)
    grant = tokens.claim("a", t1)
    assert grant is not None and grant.server_token == b"t1"
    assert tokens.claim("a", t1) is None  # the second answer, while the first is on its way
    assert tokens.lookup("a", t1) is None  # nor a heartbeat
    tokens.release(t1, grant)  # the first did not get through
    assert tokens.claim("b", t1) is None  # still only its own station's
    assert tokens.claim("a", t1) is not None


def test_the_key_comes_from_the_portals_secret_and_seals_nothing_for_another_key() -> None:
    clock = Clock()
    key = task_token_key("a secret of the portal, 32 characters long")
    assert key == task_token_key("a secret of the portal, 32 characters long") and len(key) == 32
    assert key != task_token_key("another secret")
    t1 = TaskTokens(grace=10, key=key, clock=clock).grant("a", task(b"t1"), CONTEXT)
    assert server_token_of(t1, key, "a") == b"t1"
    with pytest.raises(ValueError):
        server_token_of(t1, task_token_key("another secret"), "a")
