"""With payload keys set, the Temporal server stores no VIN or personal data in clear: payloads,
memos and failure messages are encrypted, the `Vin` search attribute holds a keyed search value;
operators still find a car's flows by its VIN through the API, and administrators decode
through the codec."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from application.local_activities import LOCAL_ACTIVITY_MARKER
from application.programming import start_session_workflow
from contracts import search_attributes
from contracts.programming import (
    CURRENT_SESSION_REVISION,
    ProgrammingSessionInput,
    programming_workflow_id,
)
from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw.sim.keyreader_backend import SimulatedKeyReaderBackend, demo_key_blob
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from temporal_client import ENCRYPTED, data_converter
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.serving import running_api, serving_api
from tests.programming.conftest import (
    buy_time,
    register_station,
    running_station,
    start_session,
    wait_until_ended,
)
from tests.programming.test_aos_cli import _aos
from tests.service_history.conftest import (
    OTHER_VIN,
    booklet_with_reader,
    garage_with_station,
    seed,
    station_worker,
)
from workflows.programming_session import PORTAL_CHECKS_TOGETHER, ProgrammingSessionWorkflow
from workflows.vin_search import KEYED_VIN_SEARCH

pytestmark = pytest.mark.e2e
VIN = "WBA8E5105FK731548"


def _payloads(node: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every payload in a history (as JSON), leaving out search attributes and the patch
    markers and a local activity's own record: the SDK writes those itself, outside the data
    converter. Search attributes stay
    clear for Temporal to index them and hold no VIN (contracts/search_attributes.py); a patch
    marker holds only the patch's name (`workflow.patched`), never data of the flow."""
    if isinstance(node, dict):
        if node.get("markerName") == "core_patch":
            return found
        if node.get("markerName") == LOCAL_ACTIVITY_MARKER:
            # The SDK's own record of a local activity (type, attempt, times) is not the flow's
            # data; the activity's result and failure are, and go through the codec.
            details = {k: v for k, v in node.get("details", {}).items() if k != "data"}
            node = {**node, "details": details}
        if "data" in node and "metadata" in node:
            found.append(node)
        for key, value in node.items():
            if key not in ("searchAttributes", "indexedFields"):
                _payloads(value, found)
    elif isinstance(node, list):
        for item in node:
            _payloads(item, found)
    return found


async def _session_history(
    client: Client, settings: Settings, workshop_id: str, revision: int
) -> WorkflowHistory:
    """A session refused for lack of time: its input holds the VIN; the raw payloads. Revision
    0 started as sessions were before revisions, 1 as the API starts them now."""
    session = ProgrammingSessionInput(
        session_id=str(uuid.uuid4()),
        workshop_id=workshop_id,
        station_id="nowhere",
        station_task_queue="station-nowhere",
        vin=VIN,
        package_id="none",
        technician_id="tech",
    )
    workflow_id = programming_workflow_id(session.session_id)
    with pytest.raises(WorkflowFailureError):
        if revision == 0:
            await client.execute_workflow(
                ProgrammingSessionWorkflow.run,
                session,
                id=workflow_id,
                task_queue=settings.portal_task_queue,
            )
        else:
            await (await start_session_workflow(client, settings, session)).result()
    return await client.get_workflow_handle(workflow_id).fetch_history()


def _patch_names(history: dict[str, Any]) -> set[str]:
    """What the patch markers, the payloads left in clear, hold: the patches' names."""
    return {
        json.loads(_clear_text(payload))["id"]
        for event in history["events"]
        if event.get("markerRecordedEventAttributes", {}).get("markerName") == "core_patch"
        for payload in event["markerRecordedEventAttributes"]["details"]["patch-data"]["payloads"]
    }


def _clear_text(payload: dict[str, Any]) -> bytes:
    return base64.b64decode(payload.get("data", ""))


@pytest.mark.parametrize("revision", [0, CURRENT_SESSION_REVISION])
async def test_encrypted_payloads_hide_the_vin_and_decode_for_admins(
    revision: int,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    workshop_id = await create_workshop(session_factory)
    key = base64.b64encode(os.urandom(32)).decode()
    encrypted = settings.model_copy(update={"payload_keys": f"k1={key}"})
    target = dev_env.client.service_client.config.target_host
    plain_client = await Client.connect(target, data_converter=data_converter())
    secret_client = await Client.connect(target, data_converter=data_converter(encrypted))
    deps = PortalDependencies(encrypted, session_factory)

    async with portal_worker(plain_client, deps, settings.portal_task_queue):
        plain = _payloads(
            json.loads(
                (await _session_history(plain_client, settings, workshop_id, revision)).to_json()
            ),
            [],
        )
    assert any(VIN.encode() in _clear_text(p) for p in plain)  # the check can see a VIN

    async with portal_worker(secret_client, deps, settings.portal_task_queue):
        history = await _session_history(secret_client, settings, workshop_id, revision)
    raw = _payloads(json.loads(history.to_json()), [])
    assert raw
    # Started here without the VIN's search value the API computes: no Vin rather than a clear one.
    # Since revision 1 a session decides by its revision, not by patch markers.
    patches = {PORTAL_CHECKS_TOGETHER, KEYED_VIN_SEARCH} if revision == 0 else set()
    assert _patch_names(json.loads(history.to_json())) == patches
    assert not any(VIN.encode() in _clear_text(p) for p in raw)
    assert all(base64.b64decode(p["metadata"]["encoding"]) == b"binary/encrypted" for p in raw)

    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    async with running_api(create_app(encrypted, temporal=secret_client)) as api:
        body = {"payloads": raw[:1]}
        anonymous = await api.post("/codec/decode", json=body)
        assert anonymous.status_code == 401
        refused = await api.post("/codec/decode", json=body, headers=owner.headers)
        assert refused.status_code == 403
        decoded = await api.post("/codec/decode", json=body, headers=admin.headers)
        assert decoded.status_code == 200, decoded.text
        assert VIN.encode() in base64.b64decode(decoded.json()["payloads"][0]["data"])


def _failures(history: WorkflowHistory) -> list[Failure]:
    """The failures the history stores (failed activities, the failed workflow), causes too."""
    found: list[Failure] = []
    for event in history.events:
        for name in (
            "activity_task_failed_event_attributes",
            "marker_recorded_event_attributes",  # a failed local activity
            "workflow_execution_failed_event_attributes",
        ):
            if event.HasField(name):
                failure = getattr(event, name).failure
                while failure.ByteSize():
                    found.append(failure)
                    failure = failure.cause
    return found


NO_TICKET = "the workshop has no ticket for ecu_programming; buy one to use it"
NO_PACKAGE = "no flash package none"


@pytest.mark.parametrize("revision", [0, CURRENT_SESSION_REVISION])
async def test_failure_messages_are_encrypted_and_operators_read_them_decoded(
    revision: int,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """Temporal stores a failure's message and stack trace in clear unless the failure
    converter moves them into its encoded attributes, a payload the codec encrypts."""
    workshop_id = await create_workshop(session_factory)
    key = base64.b64encode(os.urandom(32)).decode()
    encrypted = settings.model_copy(update={"payload_keys": f"k1={key}"})
    target = dev_env.client.service_client.config.target_host
    plain_client = await Client.connect(target, data_converter=data_converter())
    secret_client = await Client.connect(target, data_converter=data_converter(encrypted))
    deps = PortalDependencies(encrypted, session_factory)

    async with portal_worker(plain_client, deps, settings.portal_task_queue):
        plain = await _session_history(plain_client, settings, workshop_id, revision)
    clear = b"".join(event.SerializeToString() for event in plain.events)
    # The access check and the manifest read run together and the session ends at the first
    # refusal, so the other's failure is in the history only when it came in the same task.
    assert NO_TICKET.encode() in clear or NO_PACKAGE.encode() in clear  # the check can see

    async with portal_worker(secret_client, deps, settings.portal_task_queue):
        history = await _session_history(secret_client, settings, workshop_id, revision)
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert NO_TICKET.encode() not in stored and NO_PACKAGE.encode() not in stored
    failures = _failures(history)
    # The access check or the manifest read, and the session. A failed activity's failure is
    # wrapped in the SDK's "Activity task failed"; a failed local activity's marker holds its own.
    assert len(failures) >= (3 if revision == 0 else 2)
    for failure in failures:
        if failure.HasField("activity_failure_info"):
            continue  # "Activity task failed", the SDK's wrapper, names no data
        assert (failure.message, failure.stack_trace) == ("Encoded failure", "")
        assert failure.encoded_attributes.metadata["encoding"] == ENCRYPTED

    workflow_id = history.workflow_id
    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    app = create_app(encrypted, temporal=secret_client)
    async with running_api(app) as api:
        timeline = await api.get(f"/flows/{workflow_id}/history", headers=admin.headers)
    assert timeline.status_code == 200, timeline.text
    failed = {
        event["name"]: event["failure"]
        for event in timeline.json()["events"]
        if event["event"] in ("activity_task_failed", "marker_recorded") and event["failure"]
    }
    refusals = {"check_entitlement": NO_TICKET, "read_verified_manifest": NO_PACKAGE}
    assert failed and failed.items() <= refusals.items(), failed
    (ended,) = (e for e in timeline.json()["events"] if e["event"] == "workflow_execution_failed")
    assert ended["failure"] in failed.values()

    config = tmp_path / "aos.json"
    async with serving_api(create_app(encrypted, temporal=secret_client)) as url:
        config.write_text(json.dumps({"api": url, "token": admin.token}))
        code, out = await _aos(config, "flows", "history", workflow_id)
    assert code == 0, out
    # The CLI's table wraps a long message: look for a part of it that wraps nowhere.
    shown = {NO_TICKET: "ticket", NO_PACKAGE: NO_PACKAGE}[ended["failure"]]
    assert shown in out and "Encoded failure" not in out


async def test_a_stations_failure_message_is_encrypted_by_the_gateway(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The station holds no key: its failure converter moves the message into the encoded
    attributes, which the gateway encrypts before Temporal stores them."""
    await seed(session_factory)
    shop, station_id = await garage_with_station(session_factory)
    reader = SimulatedKeyReaderBackend()
    blob = bytearray(demo_key_blob(OTHER_VIN))
    blob[20] ^= 0xFF  # inside the VIN: the checksum no longer matches
    reader.insert_key(bytes(blob))
    key = base64.b64encode(os.urandom(32)).decode()
    encrypted = settings.model_copy(update={"payload_keys": f"k1={key}"})
    target = dev_env.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=data_converter(encrypted))
    deps = PortalDependencies(encrypted, session_factory)

    async with (
        portal_worker(client, deps, settings.portal_task_queue),
        station_worker(client, encrypted, station_id, booklet_with_reader(station_id, reader)),
        running_api(create_app(encrypted, temporal=client)) as api,
    ):
        refused = await api.post(
            f"/stations/{station_id}/key-reads", headers=shop.technician.headers
        )
    assert (refused.status_code, refused.json()["reason"]) == (422, "bad_checksum")
    message = refused.json()["detail"]
    assert "checksum" in message  # decoded for the technician

    (execution,) = [e async for e in client.list_workflows(f"StationId = '{station_id}'")]
    history = await client.get_workflow_handle(execution.id).fetch_history()
    station_failures = [
        event.activity_task_failed_event_attributes.failure
        for event in history.events
        if event.HasField("activity_task_failed_event_attributes")
    ]
    assert station_failures  # the station's own answer, through the gateway
    for failure in station_failures:
        assert (failure.message, failure.stack_trace) == ("Encoded failure", "")
        assert failure.encoded_attributes.metadata["encoding"] == ENCRYPTED
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert message.encode() not in stored and b"checksum" not in stored


async def test_a_flashed_cars_vin_is_nowhere_in_temporal_yet_operators_find_its_flow(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    tmp_path: Path,
) -> None:
    """A session through the API, the portal worker, the gateway and a station, all with the
    payload keys (the station without): Temporal's history, its description and its
    visibility record hold the VIN nowhere, and the API still finds the flow by the VIN."""
    key = base64.b64encode(os.urandom(32)).decode()
    encrypted = settings.model_copy(update={"payload_keys": f"k1={key}"})
    target = dev_env.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=data_converter(encrypted))
    raw = await Client.connect(target)  # what Temporal has, without the codec
    deps = PortalDependencies(encrypted, session_factory)
    owner = workshop_owner

    async with (
        portal_worker(client, deps, settings.portal_task_queue),
        running_api(create_app(encrypted, temporal=client)) as api,
        running_station(client, encrypted) as station,
    ):
        vin = station.vehicle.vin
        await buy_time(api, owner)
        await register_station(api, owner, station.station_id)
        started = await start_session(api, owner, station.station_id, vin)
        final = await wait_until_ended(api, owner.headers, started["session_id"])
        assert final["state"] == "completed", final
        workflow_id = started["workflow_id"]
        await client.get_workflow_handle(workflow_id).result()

        for _ in range(100):  # visibility is eventually consistent
            found = (await api.get("/flows", params={"vin": vin}, headers=owner.headers)).json()
            if [f["state"] for f in found["flows"]] == ["completed"]:
                break
            await asyncio.sleep(0.1)
        assert [(f["workflow_id"], f["vin"]) for f in found["flows"]] == [(workflow_id, vin)]

        config = tmp_path / "aos.json"
        async with serving_api(create_app(encrypted, temporal=client)) as url:
            config.write_text(json.dumps({"api": url, "token": owner.token}))
            code, out = await _aos(config, "flows", "list", "--vin", vin)
        assert code == 0, out
        assert workflow_id in out and vin in out

    handle = raw.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    description = await handle.describe()
    (listed,) = [e async for e in raw.list_workflows(f"WorkflowId = '{workflow_id}'")]
    stored = [
        *(event.SerializeToString() for event in history.events),
        description.raw_description.SerializeToString(),
        listed.raw_info.SerializeToString(),
    ]
    assert len(history.events) > 40  # a whole flash: checks, identify, 4 ECUs, the link's end
    assert not [blob for blob in stored if vin.encode() in blob]
    assert description.typed_search_attributes.get(search_attributes.VIN) == (
        encrypted.vin_search_value(vin)
    )
    memo = description.raw_description.workflow_execution_info.memo.fields
    assert memo[search_attributes.VIN_MEMO].metadata["encoding"] == ENCRYPTED
