"""With payload keys set, the Temporal server stores no VIN or personal data in clear outside
the search attributes that operators query by; administrators decode through the codec."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from contracts.programming import ProgrammingSessionInput, programming_workflow_id
from domain.accounts import Role
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from temporal_client import data_converter
from testkit.factories import create_workshop, sign_in
from testkit.serving import running_api
from workflows.programming_session import PORTAL_CHECKS_TOGETHER, ProgrammingSessionWorkflow

pytestmark = pytest.mark.e2e
VIN = "WBA8E5105FK731548"


def _payloads(node: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every payload in a history (as JSON), leaving out search attributes and the patch
    markers: the SDK writes those itself, outside the data converter, and they hold only the
    patch's name (`workflow.patched`), never data of the flow."""
    if isinstance(node, dict):
        if node.get("markerName") == "core_patch":
            return found
        if "data" in node and "metadata" in node:
            found.append(node)
        for key, value in node.items():
            if key not in ("searchAttributes", "indexedFields"):
                _payloads(value, found)
    elif isinstance(node, list):
        for item in node:
            _payloads(item, found)
    return found


async def _session_history(client: Client, settings: Settings, workshop_id: str) -> WorkflowHistory:
    """A session refused for lack of time: its input holds the VIN; the raw payloads."""
    session_id = str(uuid.uuid4())
    with pytest.raises(WorkflowFailureError):
        await client.execute_workflow(
            ProgrammingSessionWorkflow.run,
            ProgrammingSessionInput(
                session_id=session_id,
                workshop_id=workshop_id,
                station_id="nowhere",
                station_task_queue="station-nowhere",
                vin=VIN,
                package_id="none",
                technician_id="tech",
            ),
            id=programming_workflow_id(session_id),
            task_queue=settings.portal_task_queue,
        )
    return await client.get_workflow_handle(programming_workflow_id(session_id)).fetch_history()


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


async def test_encrypted_payloads_hide_the_vin_and_decode_for_admins(
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
            json.loads((await _session_history(plain_client, settings, workshop_id)).to_json()), []
        )
    assert any(VIN.encode() in _clear_text(p) for p in plain)  # the check can see a VIN

    async with portal_worker(secret_client, deps, settings.portal_task_queue):
        history = await _session_history(secret_client, settings, workshop_id)
    raw = _payloads(json.loads(history.to_json()), [])
    assert raw
    assert _patch_names(json.loads(history.to_json())) == {PORTAL_CHECKS_TOGETHER}
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
