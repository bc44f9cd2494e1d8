"""A real station worker through the gateway: TLS, its token, its own queue, nothing else.

The workflow runs on the portal side straight on the frontend; only the station's activity
worker goes through the gateway, as in production.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import uuid
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gateway import Gateway, GatewayConfig, serve
from gateway.calls import ALLOWED
from gateway.certificates import GatewayCertificates
from temporal_client import ENCRYPTED, EncryptionCodec
from tests.gateway.support import CAPTURED, StationJobWorkflow, Stations, station_worker


async def run_job(
    client: Client, portal_queue: str, station_id: str, mode: str, payload: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    workflow_id = f"gw-{mode}-{uuid.uuid4()}"
    result = await client.execute_workflow(
        StationJobWorkflow.run,
        args=[f"station-{station_id}", mode, payload],
        id=workflow_id,
        task_queue=portal_queue,
        execution_timeout=timedelta(seconds=30),
    )
    return workflow_id, result


def events_of(history: WorkflowHistory, kind: int) -> list[Any]:
    return [event for event in history.events if event.event_type == kind]


async def test_activity_completes_and_history_names_the_station(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    token = stations.issue(station_id)
    async with station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id):
        workflow_id, result = await run_job(
            dev_env.client, portal_queue, station_id, "complete", {"n": 1}
        )

    assert result == {"outcome": "completed", "result": {"echo": {"n": 1}, "attempt": 1}}
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    started = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    completed = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    assert [e.activity_task_started_event_attributes.identity for e in started] == [
        f"station:{station_id}"
    ]
    assert [e.activity_task_completed_event_attributes.identity for e in completed] == [
        f"station:{station_id}"
    ]
    assert gateway.task_tokens == 0  # spent with the completion


async def test_polls_are_noted_once_per_interval_and_a_failing_note_holds_up_nothing(
    dev_env: WorkflowEnvironment,
    gateway_config: GatewayConfig,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    # The API reads the notes while Temporal, just restarted, lists no pollers (application.workflow_calls
    # .ensure_station_online); they are a hint, so a note that fails must not fail the poll.
    noted: list[str] = []

    async def note_poll(station: str) -> None:
        noted.append(station)
        raise ConnectionError("database unreachable")

    gateway = await serve(gateway_config, stations, None, note_poll)
    token = stations.issue(station_id)
    try:
        async with station_worker(
            gateway.port, token, gateway_certificates.ca_certificate, station_id
        ):
            _, result = await run_job(dev_env.client, portal_queue, station_id, "complete", {})
    finally:
        await gateway.stop(grace=0.5)
    assert result["outcome"] == "completed"
    assert gateway.forwarded["PollActivityTaskQueue"] >= 2  # the SDK polls with several at once
    assert noted == [station_id]  # one note per POLL_NOTE_INTERVAL


async def test_a_retry_sees_the_heartbeat_details_of_the_attempt_before(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    token = stations.issue(station_id)
    async with station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id):
        _, result = await run_job(
            dev_env.client, portal_queue, station_id, "heartbeat-then-retry", {"secret": "s"}
        )

    assert result == {
        "outcome": "completed",
        "result": {"previous": [{"step": 2, "secret": "s"}], "attempt": 2},
    }


async def test_a_failure_reaches_the_workflow_with_its_details_and_cause(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    token = stations.issue(station_id)
    async with station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id):
        workflow_id, result = await run_job(
            dev_env.client, portal_queue, station_id, "fail", {"secret": "s"}
        )

    assert result == {
        "outcome": "failed",
        "type": "VehicleRefused",
        "message": "the vehicle said no",
        "details": [{"nrc": "0x22", "secret": "s"}],
        "inner_details": [{"raw": "s"}],
    }
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    (failed,) = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    assert failed.activity_task_failed_event_attributes.identity == f"station:{station_id}"


async def test_a_retry_keeps_the_cause_of_a_failure_with_a_long_chain_of_causes(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    """The server keeps an activity's last failure for the next attempt only up to 4 KB and
    puts "Failure exceeds size limit." in the place of a larger one; the failure converter
    keeps it under that, so the operators' timeline and the programming report can still say
    why the step was retried."""
    token = stations.issue(station_id)
    async with station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id):
        workflow_id, result = await run_job(
            dev_env.client, portal_queue, station_id, "fail-chained-then-retry", {}
        )

    assert result == {"outcome": "completed", "result": {"attempt": 2}}
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    (started,) = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    attributes = started.activity_task_started_event_attributes
    assert attributes.attempt == 2
    cause = await dev_env.client.data_converter.decode_failure(attributes.last_failure)
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == ("OSError", "the link lost the vehicle")
    first_cause = cause.cause
    assert isinstance(first_cause, ApplicationError)
    assert first_cause.type == "OSError"
    assert first_cause.message.startswith("layer 11 ")
    assert first_cause.message.endswith("(12 deeper causes left out)")


async def test_a_cancelled_activity_reports_its_cancellation(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    token = stations.issue(station_id)
    workflow_id = f"gw-cancel-{uuid.uuid4()}"
    async with station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id):
        handle = await dev_env.client.start_workflow(
            StationJobWorkflow.run,
            args=[f"station-{station_id}", "until-cancelled", {}],
            id=workflow_id,
            task_queue=portal_queue,
        )
        await CAPTURED.started_event(workflow_id).wait()
        await handle.cancel()
        assert await handle.result() == {"outcome": "cancelled"}

    history = await handle.fetch_history()
    (cancelled,) = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
    assert cancelled.activity_task_canceled_event_attributes.identity == f"station:{station_id}"


async def test_the_allow_list_is_what_an_activity_worker_calls(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    """Records the worker's calls again: a new SDK that calls something else fails here."""
    token = stations.issue(station_id)
    # Worker heartbeats every second instead of every minute, so one is recorded.
    runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=1))
    ca = gateway_certificates.ca_certificate
    async with station_worker(gateway.port, token, ca, station_id, runtime=runtime):
        for mode in ("complete", "heartbeat-then-retry", "fail"):
            await run_job(dev_env.client, portal_queue, station_id, mode, {})
        workflow_id = f"gw-cancel-{uuid.uuid4()}"
        handle = await dev_env.client.start_workflow(
            StationJobWorkflow.run,
            args=[f"station-{station_id}", "until-cancelled", {}],
            id=workflow_id,
            task_queue=portal_queue,
        )
        await CAPTURED.started_event(workflow_id).wait()
        await handle.cancel()
        await handle.result()
    assert set(gateway.forwarded) == set(ALLOWED)


def _payloads_in(history: WorkflowHistory) -> list[Payload]:
    """Every activity payload of the history, failure details and causes included."""
    found: list[Payload] = []

    def failure(f: Failure) -> None:
        found.extend(f.application_failure_info.details.payloads)
        if f.HasField("cause"):
            failure(f.cause)

    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            found.extend(event.activity_task_scheduled_event_attributes.input.payloads)
        if event.HasField("activity_task_completed_event_attributes"):
            found.extend(event.activity_task_completed_event_attributes.result.payloads)
        if event.HasField("activity_task_failed_event_attributes"):
            failure(event.activity_task_failed_event_attributes.failure)
        if event.HasField("activity_task_started_event_attributes"):
            last = event.activity_task_started_event_attributes.last_failure
            if last.ByteSize():
                failure(last)
    return found


async def test_with_a_codec_the_station_sees_clear_payloads_and_the_server_encrypted_ones(
    dev_env: WorkflowEnvironment,
    gateway_config: GatewayConfig,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    task_queue: str,
) -> None:
    codec = EncryptionCodec({"k1": os.urandom(32)}, "k1")
    portal = await Client.connect(
        dev_env.client.service_client.config.target_host,
        data_converter=dataclasses.replace(pydantic_data_converter, payload_codec=codec),
    )
    gateway = await serve(gateway_config, stations, codec)
    token = stations.issue(station_id)
    secret = "WBA8E5105FK731548"
    try:
        async with (
            Worker(
                portal,
                task_queue=task_queue,
                workflows=[StationJobWorkflow],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ),
            station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id),
        ):
            done_id, done = await run_job(
                portal, task_queue, station_id, "complete", {"secret": secret}
            )
            retried_id, retried = await run_job(
                portal, task_queue, station_id, "heartbeat-then-retry", {"secret": secret}
            )
            failed_id, failed = await run_job(
                portal, task_queue, station_id, "fail", {"secret": secret}
            )
    finally:
        await gateway.stop(grace=0.5)

    # The station (no codec) got clear input; the workflow (codec) got clear answers.
    assert CAPTURED.inputs[done_id] == {"secret": secret}
    assert done["result"]["echo"] == {"secret": secret}
    assert retried["result"]["previous"] == [{"step": 2, "secret": secret}]
    assert failed["details"] == [{"nrc": "0x22", "secret": secret}]
    assert failed["inner_details"] == [{"raw": secret}]

    # What the server stored is encrypted throughout.
    for workflow_id in (done_id, retried_id, failed_id):
        history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
        payloads = _payloads_in(history)
        assert payloads, workflow_id
        for payload in payloads:
            assert payload.metadata["encoding"] == ENCRYPTED
            assert secret.encode() not in payload.data
            assert base64.b64encode(secret.encode()) not in payload.data
        assert secret.encode() not in b"".join(e.SerializeToString() for e in history.events)
