"""End to end on the dev server, through the API only: a workshop registers and its owner
signs in with a second factor."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from contracts.search_attributes import FLOW_STATE
from settings import Settings
from tests.accounts_helpers import (
    APPLICATION,
    admin_headers,
    code_in,
    last_mail_to,
    sign_in_enrolling_totp,
    token_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.database]


async def _wait_for_state(
    client: httpx.AsyncClient, registration_id: str, state: str
) -> dict[str, Any]:
    for _ in range(100):
        status = (await client.get(f"/registrations/{registration_id}")).json()
        if status["state"] == state:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"registration stayed {status['state']}, never {state}")


async def test_register_verify_approve_sign_in(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    dev_env: WorkflowEnvironment,
) -> None:
    applied = await api_client.post("/registrations", json=APPLICATION)
    assert applied.status_code == 201, applied.text
    registration_id = applied.json()["registration_id"]

    again = await api_client.post("/registrations", json=APPLICATION)
    assert (again.status_code, again.json()["registration_id"]) == (200, registration_id)

    mail = await last_mail_to(session_factory, APPLICATION["contact_email"])
    verified = await api_client.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code_in(mail.body)}
    )
    assert verified.status_code == 200, verified.text
    reused = await api_client.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code_in(mail.body)}
    )
    assert reused.status_code == 409, reused.text
    assert reused.json()["type"] == "/problems/registration-wrong-state"

    review = await _wait_for_state(api_client, registration_id, "under_review")
    assert review["vat_check"] == "valid: format valid"

    admin = await admin_headers(api_client, session_factory)
    listed = await api_client.get("/admin/registrations?state=under_review", headers=admin)
    assert [r["registration_id"] for r in listed.json()] == [registration_id]

    decided = await api_client.post(
        f"/admin/registrations/{registration_id}/decision",
        json={"approve": True, "reason": "documents checked"},
        headers=admin,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"
    workshop_id = decided.json()["workshop_id"]
    assert workshop_id

    twice = await api_client.post(
        f"/admin/registrations/{registration_id}/decision", json={"approve": False}, headers=admin
    )
    assert twice.status_code == 409, twice.text
    assert twice.json()["type"] == "/problems/registration-not-under-review"

    activation = await last_mail_to(session_factory, APPLICATION["contact_email"], "registration")
    password = "a long owner password"
    accepted = await api_client.post(
        f"/invitations/{token_in(activation.body)}/accept", json={"password": password}
    )
    assert accepted.status_code == 200, accepted.text

    token = await sign_in_enrolling_totp(api_client, APPLICATION["contact_email"], password)
    me = await api_client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "workshop_owner"
    assert me.json()["workshop_id"] == workshop_id
    assert me.json()["workshop_name"] == APPLICATION["company_name"]

    handle = dev_env.client.get_workflow_handle(f"registration-{registration_id}")
    description = await handle.describe()
    assert description.typed_search_attributes.get(FLOW_STATE) == "approved"

    # Operators find the flow by its workshop through the API and through the temporal CLI.
    for _ in range(100):
        flows = await api_client.get("/flows", params={"workshop": workshop_id}, headers=admin)
        found = [f for f in flows.json()["flows"] if f["type"] == "RegistrationWorkflow"]
        if found and found[0]["state"] == "approved":
            break
        await asyncio.sleep(0.1)
    assert [f["workflow_id"] for f in found] == [handle.id]
    timeline = (await api_client.get(f"/flows/{handle.id}/history", headers=admin)).json()
    updates = [
        e["name"]
        for e in timeline["events"]
        if e["event"].startswith("workflow_execution_update_accepted")
    ]
    assert updates == ["verify_email", "decide"]
    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "temporal"),
        "workflow",
        "list",
        "--address",
        dev_env.client.service_client.config.target_host,
        "--query",
        f"WorkshopId='{workshop_id}'",
        stdout=asyncio.subprocess.PIPE,
    )
    cli_output = (await asyncio.wait_for(cli.communicate(), timeout=30))[0].decode()
    assert handle.id in cli_output
