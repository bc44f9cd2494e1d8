"""Operators find every kind of flow by its keys, through the API, the `temporal` CLI and the
`aos` terminal client alike, read its timeline, and never see another workshop's flows.

tests/programming/test_flow_inspection.py covers programming sessions, ticket purchases and
entitlements; this covers registrations, service entries, their deletions and key reads.
Each flow is run through the API on the dev server; the keys asserted are the search attributes
the workflow sets (contracts/search_attributes.py). `Vin` holds the VIN's keyed search value:
the `temporal` CLI finds a car's flows by that value, and by the VIN itself finds none.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.service_history import CONSENT_TEXT_VERSION
from portal_app import create_app
from settings import Settings
from testkit.factories import SignedIn, create_workshop, grant_ticket, sign_in
from testkit.serving import serving_api
from tests.accounts.test_registration_journey import _wait_for_state
from tests.accounts_helpers import APPLICATION, admin_headers, code_in, last_mail_to
from tests.programming.test_aos_cli import _aos
from tests.service_history.conftest import (
    DEMO_VIN,
    Garage,
    add_station,
    garage,
    seed,
    station_worker,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("portal_on_dev_server")]

TEMPORAL = str(Path(sys.executable).parent / "temporal")


# --- how operators look ---------------------------------------------------------------------


async def _listed(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    workflow_id: str,
    state: str,
    **filters: str,
) -> list[dict[str, Any]]:
    """GET /flows with `filters`, once it lists `workflow_id` completed in `state`.

    Visibility is eventually consistent: the flow's last keys show up within moments.
    """
    flows: list[dict[str, Any]] = []
    for _ in range(100):
        response = await api.get("/flows", params=filters, headers=headers)
        assert response.status_code == 200, response.text
        flows = response.json()["flows"]
        if any(
            f["workflow_id"] == workflow_id and (f["status"], f["state"]) == ("completed", state)
            for f in flows
        ):
            return flows
        await asyncio.sleep(0.1)
    raise AssertionError(f"GET /flows {filters} never listed {workflow_id} as {state}: {flows}")


def _ids(flows: list[dict[str, Any]], kind: str) -> list[str]:
    return [f["workflow_id"] for f in flows if f["type"] == kind]


async def _temporal_list(dev_env: WorkflowEnvironment, query: str) -> dict[str, str]:
    """`temporal workflow list --query QUERY`: workflow id to workflow type."""
    process = await asyncio.create_subprocess_exec(
        TEMPORAL,
        "workflow",
        "list",
        "--address",
        dev_env.client.service_client.config.target_host,
        "--query",
        query,
        "--output",
        "jsonl",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    executions = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return {e["execution"]["workflowId"]: e["type"]["name"] for e in executions}


@dataclass
class Timeline:
    events: list[dict[str, Any]]

    def named(self, event: str) -> list[str]:
        return [e["name"] for e in self.events if e["event"] == event]

    @property
    def activities(self) -> list[str]:
        return self.named("activity_task_scheduled")

    @property
    def updates(self) -> list[str]:
        return self.named("workflow_execution_update_accepted")


async def _timeline(api: httpx.AsyncClient, headers: dict[str, str], workflow_id: str) -> Timeline:
    response = await api.get(f"/flows/{workflow_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow_id"] == workflow_id
    events = body["events"]
    assert events[0]["event"] == "workflow_execution_started"
    assert events[-1]["event"] == "workflow_execution_completed"
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["failure"] is None for e in events), events
    return Timeline(events)


async def _hidden_from_another_workshop(
    api: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    workflow_id: str,
    workshop_id: str,
    **own_filters: str,
) -> None:
    """Another workshop's owner finds nothing by the flow's keys and cannot read it."""
    other = await sign_in(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory, "Elsewhere")
    )
    for name, value in own_filters.items():
        response = await api.get("/flows", params={name: value}, headers=other.headers)
        assert (response.status_code, response.json()["flows"]) == (200, []), (name, value)
    foreign = await api.get("/flows", params={"workshop": workshop_id}, headers=other.headers)
    assert foreign.status_code == 404, foreign.text
    everything = await api.get("/flows", headers=other.headers)
    assert everything.status_code == 200, everything.text
    assert workflow_id not in [f["workflow_id"] for f in everything.json()["flows"]]
    # The same 404 as for a flow that does not exist: the id's existence does not leak.
    history = await api.get(f"/flows/{workflow_id}/history", headers=other.headers)
    unknown = await api.get(f"/flows/{workflow_id}-none/history", headers=other.headers)
    assert (history.status_code, unknown.status_code) == (404, 404), history.text
    assert {**history.json(), "instance": None} == {**unknown.json(), "instance": None}


# --- building the flows through the API -----------------------------------------------------


async def _service_history_garage(session_factory: async_sessionmaker[AsyncSession]) -> Garage:
    """A workshop with a service-history ticket for today, and the demo vehicles."""
    await seed(session_factory)
    shop = await garage(session_factory, "Garage Flows")
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    return shop


async def _created_entry(
    api: httpx.AsyncClient, technician: SignedIn, station_id: str | None = None
) -> str:
    """A maintenance entry of the demo car, through its steps up to created; its id."""
    body: dict[str, Any] = {"vin": DEMO_VIN, "kind": "maintenance"}
    if station_id:
        body["station_id"] = station_id
    opened = await api.post("/service-entries", json=body, headers=technician.headers)
    assert opened.status_code == 201, opened.text
    entry_id: str = opened.json()["entry_id"]
    today = datetime.now(UTC).date().isoformat()
    for step, payload in (
        ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
        ("details", {"mileage_km": 195_000, "service_date": today}),
        ("services", {"cbs_items": ["engine_oil"]}),
        ("create", None),
    ):
        done = await api.post(
            f"/service-entries/{entry_id}/{step}", json=payload, headers=technician.headers
        )
        assert done.status_code == 200, (step, done.text)
    assert done.json()["state"] == "created"
    return entry_id


async def _read_key(
    api: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> tuple[Garage, str]:
    """A technician reads the demo key at a new station of a new workshop; the shop, station."""
    shop = await _service_history_garage(session_factory)
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, shop.workshop_id, station_id)
    async with station_worker(dev_env.client, settings, station_id):
        read = await api.post(f"/stations/{station_id}/key-reads", headers=shop.technician.headers)
    assert read.status_code == 201, read.text
    assert read.json()["vin"] == DEMO_VIN
    return shop, station_id


async def _key_read_flow(
    api: httpx.AsyncClient, technician: SignedIn, station_id: str
) -> dict[str, Any]:
    """The station's only flow, a key read, once it has stored the key."""
    flows: list[dict[str, Any]] = []
    for _ in range(100):
        response = await api.get(
            "/flows", params={"station": station_id}, headers=technician.headers
        )
        assert response.status_code == 200, response.text
        flows = response.json()["flows"]
        if flows and (flows[0]["status"], flows[0]["state"]) == ("completed", "stored"):
            break
        await asyncio.sleep(0.1)
    assert [(f["type"], f["status"], f["state"]) for f in flows] == [
        ("KeyReadWorkflow", "completed", "stored")
    ], flows
    return flows[0]


# --- the flows ------------------------------------------------------------------------------


async def test_a_registration_is_found_by_the_workshop_it_created(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    applied = await api_client.post("/registrations", json=APPLICATION)
    assert applied.status_code == 201, applied.text
    registration_id = applied.json()["registration_id"]
    mail = await last_mail_to(session_factory, APPLICATION["contact_email"])
    verified = await api_client.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code_in(mail.body)}
    )
    assert verified.status_code == 200, verified.text
    await _wait_for_state(api_client, registration_id, "under_review")
    admin = await admin_headers(api_client, session_factory)
    decided = await api_client.post(
        f"/admin/registrations/{registration_id}/decision",
        json={"approve": True, "reason": "documents checked"},
        headers=admin,
    )
    assert decided.status_code == 200, decided.text
    workshop_id = decided.json()["workshop_id"]
    workflow_id = f"registration-{registration_id}"
    await dev_env.client.get_workflow_handle(workflow_id).result()

    # The new workshop's people find the flow that created their workshop (it has no VIN).
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    mine = await _listed(api_client, owner.headers, workflow_id, "approved", workshop=workshop_id)
    assert _ids(mine, "RegistrationWorkflow") == [workflow_id]
    (flow,) = (f for f in mine if f["workflow_id"] == workflow_id)
    assert (flow["workshop_id"], flow["vin"], flow["station_id"]) == (workshop_id, None, None)
    by_type = await _listed(
        api_client, owner.headers, workflow_id, "approved", type="RegistrationWorkflow"
    )
    assert _ids(by_type, "RegistrationWorkflow") == [workflow_id]

    listed = await _temporal_list(dev_env, f"WorkshopId='{workshop_id}' AND FlowState='approved'")
    assert listed == {workflow_id: "RegistrationWorkflow"}

    timeline = await _timeline(api_client, owner.headers, workflow_id)
    assert timeline.activities == [
        "send_mail",  # the verification code
        "check_vat_id",
        "record_registration_state",  # under_review
        "create_workshop_and_owner",
        "record_registration_state",  # approved
    ]
    assert timeline.updates == ["verify_email", "decide"]

    await _hidden_from_another_workshop(
        api_client, session_factory, workflow_id, workshop_id, type="RegistrationWorkflow"
    )


async def test_a_service_entry_is_found_by_vin_workshop_and_station(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    shop = await _service_history_garage(session_factory)
    tech = shop.technician
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, shop.workshop_id, station_id)
    entry_id = await _created_entry(api_client, tech, station_id)
    closed = await api_client.post(f"/service-entries/{entry_id}/close", headers=tech.headers)
    assert closed.json()["state"] == "closed", closed.text
    workflow_id = f"service-entry-{entry_id}"
    await dev_env.client.get_workflow_handle(workflow_id).result()

    for key in ({"vin": DEMO_VIN}, {"workshop": shop.workshop_id}, {"station": station_id}):
        flows = await _listed(api_client, tech.headers, workflow_id, "closed", **key)
        assert _ids(flows, "ServiceEntryWorkflow") == [workflow_id], key
    (flow,) = (f for f in flows if f["workflow_id"] == workflow_id)
    assert (flow["vin"], flow["workshop_id"], flow["station_id"]) == (
        DEMO_VIN,
        shop.workshop_id,
        station_id,
    )

    keys = f"WorkshopId='{shop.workshop_id}' AND StationId='{station_id}'"
    by_search_value = f"Vin='{settings.vin_search_value(DEMO_VIN)}' AND {keys}"
    assert await _temporal_list(dev_env, by_search_value) == {workflow_id: "ServiceEntryWorkflow"}
    assert await _temporal_list(dev_env, f"Vin='{DEMO_VIN}' AND {keys}") == {}

    timeline = await _timeline(api_client, tech.headers, workflow_id)
    # The created entry then looks for the car's open teleservice tickets to close (#24).
    assert timeline.activities == [
        "check_entitlement",
        "record_service_entry",
        "find_open_teleservice_tickets",
    ]
    assert timeline.updates == [
        "open",  # sent with the start (update-with-start)
        "record_consent",
        "enter_details",
        "select_services",
        "create",
        "close",
    ]

    await _hidden_from_another_workshop(
        api_client,
        session_factory,
        workflow_id,
        shop.workshop_id,
        vin=DEMO_VIN,
        station=station_id,
        type="ServiceEntryWorkflow",
    )


async def test_a_service_entry_deletion_is_found_by_vin_and_workshop(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    shop = await _service_history_garage(session_factory)
    tech = shop.technician
    entry_id = await _created_entry(api_client, tech)
    closed = await api_client.post(f"/service-entries/{entry_id}/close", headers=tech.headers)
    assert closed.status_code == 200, closed.text
    deleted = await api_client.delete(f"/service-entries/{entry_id}", headers=tech.headers)
    assert deleted.status_code == 200, deleted.text
    workflow_id = f"service-entry-deletion-{entry_id}"

    by_vin = await _listed(api_client, tech.headers, workflow_id, "deleted", vin=DEMO_VIN)
    assert _ids(by_vin, "ServiceEntryDeletionWorkflow") == [workflow_id]
    # The entry's own flow and its deletion, side by side under the car.
    assert _ids(by_vin, "ServiceEntryWorkflow") == [f"service-entry-{entry_id}"]
    mine = await _listed(
        api_client, tech.headers, workflow_id, "deleted", workshop=shop.workshop_id
    )
    assert _ids(mine, "ServiceEntryDeletionWorkflow") == [workflow_id]
    (flow,) = (f for f in mine if f["workflow_id"] == workflow_id)
    assert (flow["vin"], flow["workshop_id"]) == (DEMO_VIN, shop.workshop_id)

    keys = f"WorkshopId='{shop.workshop_id}' AND WorkflowType='ServiceEntryDeletionWorkflow'"
    by_search_value = f"Vin='{settings.vin_search_value(DEMO_VIN)}' AND {keys}"
    listed = await _temporal_list(dev_env, by_search_value)
    assert listed == {workflow_id: "ServiceEntryDeletionWorkflow"}
    assert await _temporal_list(dev_env, f"Vin='{DEMO_VIN}' AND {keys}") == {}

    timeline = await _timeline(api_client, tech.headers, workflow_id)
    assert timeline.activities == [
        "check_entitlement",
        "load_service_entry_facts",
        "delete_service_entry",
    ]

    await _hidden_from_another_workshop(
        api_client,
        session_factory,
        workflow_id,
        shop.workshop_id,
        vin=DEMO_VIN,
        type="ServiceEntryDeletionWorkflow",
    )


async def test_a_key_read_is_found_by_vin_workshop_and_station(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    shop, station_id = await _read_key(api_client, dev_env, settings, session_factory)
    tech = shop.technician

    # The API answers with the key, not the flow: operators find the flow by its station.
    flow = await _key_read_flow(api_client, tech, station_id)
    workflow_id = flow["workflow_id"]
    assert workflow_id.startswith("key-read-")
    assert (flow["vin"], flow["workshop_id"], flow["station_id"]) == (
        DEMO_VIN,
        shop.workshop_id,
        station_id,
    )
    for key in ({"vin": DEMO_VIN}, {"workshop": shop.workshop_id}):
        found = await _listed(api_client, tech.headers, workflow_id, "stored", **key)
        assert _ids(found, "KeyReadWorkflow") == [workflow_id], key

    keys = f"WorkshopId='{shop.workshop_id}' AND StationId='{station_id}'"
    by_search_value = f"Vin='{settings.vin_search_value(DEMO_VIN)}' AND {keys}"
    assert await _temporal_list(dev_env, by_search_value) == {workflow_id: "KeyReadWorkflow"}
    assert await _temporal_list(dev_env, f"Vin='{DEMO_VIN}' AND {keys}") == {}

    timeline = await _timeline(api_client, tech.headers, workflow_id)
    assert timeline.activities == ["check_entitlement", "read_key_at_station", "record_key_read"]

    await _hidden_from_another_workshop(
        api_client,
        session_factory,
        workflow_id,
        shop.workshop_id,
        vin=DEMO_VIN,
        station=station_id,
        type="KeyReadWorkflow",
    )


# --- the aos terminal client ----------------------------------------------------------------


def _signed_in_cli(config: Path, api: str, person: SignedIn) -> Path:
    """The session file `aos login` writes, for a person signed in from this machine."""
    config.write_text(json.dumps({"api": api, "token": person.token}))
    return config


async def test_aos_flows_list_and_history_show_a_vehicles_flows(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    shop, station_id = await _read_key(api_client, dev_env, settings, session_factory)
    workflow_id = (await _key_read_flow(api_client, shop.technician, station_id))["workflow_id"]
    other = await sign_in(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory, "Elsewhere")
    )

    async with serving_api(create_app(settings, temporal=dev_env.client)) as api:
        config = _signed_in_cli(tmp_path / "technician.json", api, shop.technician)
        code, out = await _aos(config, "flows", "list", "--vin", DEMO_VIN)
        assert code == 0, out
        rows = [line for line in out.splitlines() if workflow_id in line]
        assert len(rows) == 1, out
        assert all(word in rows[0] for word in ("KeyReadWorkflow", "completed", "stored", DEMO_VIN))
        assert out.count("Workflow") == 1, out  # the workshop's one flow of this car

        code, out = await _aos(config, "flows", "list", "--vin", "x' OR '1'='1")
        assert code == 1, out
        assert "A search filter has characters a flow key never has (vin)" in out
        assert "letters, digits" in out and "Traceback" not in out

        code, out = await _aos(config, "flows", "history", workflow_id)
        assert code == 0, out
        steps = (
            "workflow_execution_started",
            "check_entitlement",
            "read_key_at_station",
            "record_key_read",
            "workflow_execution_completed",
        )
        assert all(step in out for step in steps), out
        positions = [out.index(step) for step in steps]
        assert positions == sorted(positions), out

        foreign = _signed_in_cli(tmp_path / "other.json", api, other)
        code, out = await _aos(foreign, "flows", "history", workflow_id)
        assert code == 1, out
        assert "Not found (workflow_id): no flow with this id" in out  # as for an unknown id
        code, out = await _aos(foreign, "flows", "list", "--vin", DEMO_VIN)
        assert code == 0 and workflow_id not in out, out
