"""A client's mistakes are 4xx problems, and the OpenAPI says what the API does (issue #15).

Each test is one case the schemathesis run found, through the API on the dev server.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from application.operations import SAFE_VALUE
from db.base import INTEGER_MAX
from domain.accounts import Role
from domain.credit import MAX_TOP_UP_CENTS, VOUCHER_CODE_INPUT_PATTERN
from domain.service_history import MAX_PLAUSIBLE_MILEAGE_KM
from domain.vat import EU_COUNTRIES
from domain.vin import SHORT_VIN_PATTERN, VIN_PATTERN
from portal_app import create_app
from settings import Settings
from testkit.factories import SignedIn, create_workshop, grant_ticket, sign_in
from testkit.serving import running_api
from tests.accounts_helpers import APPLICATION

pytestmark = pytest.mark.e2e

TOO_BIG = 2**63  # 9223372036854775808: past every integer column, on both databases
DAY = timedelta(days=1)


@pytest.fixture
async def api(
    portal_on_dev_server: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    # Payload keys on, so the codec routes read what they are sent.
    settings = portal_on_dev_server.model_copy(
        update={"payload_keys": f"k1={base64.b64encode(bytes(32)).decode()}"}
    )
    async with running_api(create_app(settings, temporal=dev_env.client)) as client:
        yield client


@pytest.fixture
async def admin(session_factory: async_sessionmaker[AsyncSession]) -> SignedIn:
    return await sign_in(session_factory, Role.ADMINISTRATOR)


@pytest.fixture
async def owner(session_factory: async_sessionmaker[AsyncSession]) -> SignedIn:
    return await sign_in(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory)
    )


def problem_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["type"]


async def test_integers_past_their_column_are_refused_with_a_validation_problem(
    api: httpx.AsyncClient,
    admin: SignedIn,
    owner: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    for path in (
        f"/workshops/{owner.workshop_id}/account?offset={TOO_BIG}",
        f"/admin/registrations?offset={TOO_BIG}",
        f"/admin/outbox?offset={TOO_BIG}",
    ):
        answer = await api.get(path, headers=admin.headers)
        assert problem_of(answer) == (422, "/problems/validation-error"), path
        assert answer.json()["field"] == "offset"
    largest = await api.get(f"/admin/outbox?offset={INTEGER_MAX}", headers=admin.headers)
    assert (largest.status_code, largest.json()) == (200, [])

    now = datetime.now(UTC)
    await grant_ticket(session_factory, owner.workshop_id or "", now - DAY, now + DAY)
    entry = await api.post(
        "/service-entries",
        json={"vin": "WBA8E5105FK731548", "key_read_id": TOO_BIG},
        headers=owner.headers,
    )
    assert problem_of(entry) == (422, "/problems/validation-error")
    assert entry.json()["field"] == "key_read_id"


async def test_the_codec_refuses_what_is_not_payloads(
    api: httpx.AsyncClient, admin: SignedIn
) -> None:
    for route in ("/codec/encode", "/codec/decode"):
        odd = await api.post(route, json={"x": 1}, headers=admin.headers)
        assert problem_of(odd) == (422, "/problems/validation-error"), route
        empty = await api.post(route, json={"payloads": []}, headers=admin.headers)
        assert (empty.status_code, empty.json()) == (200, {"payloads": []}), route
        not_base64 = await api.post(
            route, json={"payloads": [{"data": "a"}]}, headers=admin.headers
        )
        assert problem_of(not_base64) == (422, "/problems/invalid-payloads"), route
        not_a_list = await api.post(route, json={"payloads": 1}, headers=admin.headers)
        assert problem_of(not_a_list) == (422, "/problems/validation-error"), route
    forged = {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"binary/encrypted").decode()},
                "data": base64.b64encode(b"not sealed by the portal").decode(),
            }
        ]
    }
    refused = await api.post("/codec/decode", json=forged, headers=admin.headers)
    assert problem_of(refused) == (422, "/problems/invalid-payloads")
    sealed = await api.post(
        "/codec/encode",
        json={"payloads": [{"metadata": {}, "data": base64.b64encode(b'"VIN"').decode()}]},
        headers=admin.headers,
    )
    opened = await api.post("/codec/decode", json=sealed.json(), headers=admin.headers)
    assert opened.json()["payloads"][0]["data"] == base64.b64encode(b'"VIN"').decode()


async def test_an_invitation_to_an_unknown_workshop_is_not_found(
    api: httpx.AsyncClient, admin: SignedIn, owner: SignedIn
) -> None:
    body = {"email": "tech@garage.example", "name": "A. Technician"}
    unknown = await api.post(
        "/workshops/no-such-workshop/invitations", json=body, headers=admin.headers
    )
    foreign = await api.post(
        "/workshops/no-such-workshop/invitations", json=body, headers=owner.headers
    )
    assert problem_of(unknown) == problem_of(foreign) == (404, "/problems/not-found")
    assert unknown.json()["detail"] == foreign.json()["detail"]


async def test_a_bad_page_token_is_the_clients_mistake(
    api: httpx.AsyncClient, admin: SignedIn
) -> None:
    for token in ("a", "AAAA", "%C3%A9t%C3%A9", "AAAAAAAAAAAAAAAAAAAAAAAA"):
        answer = await api.get(f"/flows?page_token={token}", headers=admin.headers)
        assert problem_of(answer) == (422, "/problems/invalid-page-token"), token
        assert answer.json()["field"] == "page_token"

    # The tokens it hands out still lead to the next page.
    for garage in (1, 2):  # two workshops of their own (email and VAT number are unique)
        application = {
            **APPLICATION,
            "contact_email": f"garage{garage}@garage.example",
            "vat_id": f"NL12345678{garage}B01",
        }
        assert (await api.post("/registrations", json=application)).status_code == 201
    for _ in range(100):  # visibility trails the starts a little
        first = await api.get("/flows?page_size=1", headers=admin.headers)
        if first.json()["next_page_token"]:
            break
        await asyncio.sleep(0.1)
    token = first.json()["next_page_token"]
    second = await api.get(
        "/flows", params={"page_size": 1, "page_token": token}, headers=admin.headers
    )
    assert second.status_code == 200, second.text
    assert second.json()["flows"] != first.json()["flows"]


def operation(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["paths"][path][method]
    return found


def problem_types(schema: dict[str, Any], method: str, path: str, status: int) -> set[str]:
    response = operation(schema, method, path)["responses"][str(status)]
    examples = response["content"]["application/problem+json"]["examples"]
    return {example["value"]["type"] for example in examples.values()}


async def test_the_openapi_lists_each_operations_status_codes_and_problem_types(
    api: httpx.AsyncClient,
) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert problem_types(schema, "post", "/workshops/{workshop_id}/tickets", 402) == {
        "/problems/insufficient-credit"
    }
    assert problem_types(schema, "post", "/workshops/{workshop_id}/account/top-ups", 402) == {
        "/problems/payment-declined"
    }
    # Every operation that calls Temporal (it takes the client) may find it unreachable.
    for path, method in (
        ("/flows", "get"),
        ("/programming-sessions", "post"),
        ("/service-entries/{entry_id}/consent", "post"),
        ("/workshops/{workshop_id}/tickets", "post"),
        ("/registrations", "post"),
    ):
        assert "/problems/workflow-unavailable" in problem_types(schema, method, path, 503)
    assert "503" not in operation(schema, "get", "/workshops/{workshop_id}/account")["responses"]
    # Who is calling: the dependencies' refusals, on the routes that use them.
    assert problem_types(schema, "get", "/me", 401) >= {
        "/problems/unauthenticated",
        "/problems/session-expired",
        "/problems/session-ip-changed",
    }
    assert problem_types(schema, "get", "/vehicles", 403) >= {
        "/problems/no-access",
        "/problems/access-expired",
    }
    assert problem_types(schema, "get", "/flows", 422) == {
        "/problems/validation-error",
        "/problems/invalid-filter",
        "/problems/invalid-page-token",
    }
    description = operation(schema, "post", "/workshops/{workshop_id}/tickets")["responses"]["402"]
    assert "`/problems/insufficient-credit`" in description["description"]


async def test_responses_keep_their_own_schema(
    api: httpx.AsyncClient,
    admin: SignedIn,
) -> None:
    created = await api.post("/registrations", json=APPLICATION)
    assert created.status_code == 201, created.text
    workflow_id = f"registration-{created.json()['registration_id']}"
    timeline = await api.get(f"/flows/{workflow_id}/history", headers=admin.headers)
    assert timeline.status_code == 200, timeline.text
    times = [event["time"] for event in timeline.json()["events"]]
    assert times and all(datetime.fromisoformat(t).utcoffset() is not None for t in times), times

    schema = (await api.get("/openapi.json")).json()
    progress = schema["components"]["schemas"]["ProgressView"]["properties"]
    assert "remaining_coverage" not in progress and "eta" not in progress
    for seconds in ("remaining_seconds", "eta_seconds"):
        assert {"type": "integer"} in progress[seconds]["anyOf"]
    ecu = schema["components"]["schemas"]["EcuOutcomeView"]["properties"]
    assert "overrun" not in ecu and {"type": "integer"} in ecu["overrun_seconds"]["anyOf"]


def schema_of(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["components"]["schemas"][name]
    return found


def parameter(schema: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    for candidate in operation(schema, method, path)["parameters"]:
        if candidate["name"] == name:
            found: dict[str, Any] = candidate["schema"]
            return found
    raise AssertionError(f"{method} {path} has no parameter {name}")


async def test_the_schema_declares_the_rules_the_server_enforces(
    api: httpx.AsyncClient, admin: SignedIn, owner: SignedIn
) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert schema_of(schema, "Application")["properties"]["country"]["enum"] == sorted(EU_COUNTRIES)
    assert schema_of(schema, "OpenEntry")["properties"]["vin"]["pattern"] == VIN_PATTERN
    assert parameter(schema, "get", "/vehicles/{vin}", "vin")["pattern"] == VIN_PATTERN
    assert parameter(schema, "get", "/vehicles", "short_vin")["pattern"] == SHORT_VIN_PATTERN
    for model in ("TopUpRequest", "VoucherCreation"):
        amount = schema_of(schema, model)["properties"]["amount_cents"]
        assert (amount["exclusiveMinimum"], amount["maximum"]) == (0, MAX_TOP_UP_CENTS)
    redemption = schema_of(schema, "VoucherRedemption")["properties"]["code"]
    assert redemption["pattern"] == VOUCHER_CODE_INPUT_PATTERN
    for name in ("vin", "workshop", "station", "state", "type"):
        assert parameter(schema, "get", "/flows", name)["pattern"] == SAFE_VALUE.pattern
    assert schema_of(schema, "Consent")["properties"]["confirmed"]["const"] is True
    mileage = schema_of(schema, "Details")["properties"]["mileage_km"]
    assert (mileage["minimum"], mileage["maximum"]) == (0, MAX_PLAUSIBLE_MILEAGE_KM)

    # The server keeps the rules, with their own problem types, for those who ignore the schema.
    application = {**APPLICATION, "country": "US"}
    assert problem_of(await api.post("/registrations", json=application)) == (
        422,
        "/problems/validation-error",
    )
    flows = await api.get("/flows?vin=WBA'--", headers=admin.headers)
    assert problem_of(flows) == (422, "/problems/invalid-filter")
    top_up = await api.post(
        f"/workshops/{owner.workshop_id}/account/top-ups",
        json={"amount_cents": 0},
        headers={**owner.headers, "Idempotency-Key": "top-up-zero-1"},
    )
    assert problem_of(top_up) == (422, "/problems/invalid-amount")
    assert re.fullmatch(VIN_PATTERN, "wba8e5105fk731548")  # typed in lower case: accepted too


async def test_405_lists_every_method_of_the_path(api: httpx.AsyncClient) -> None:
    for path, methods in (
        ("/packages", "GET, POST"),
        ("/service-entries/any", "DELETE, GET"),
        ("/workshops/any/stations", "GET, POST"),
        ("/workshops/any/tickets", "GET, POST"),
        ("/auth/logout", "POST"),
    ):
        answer = await api.request("PATCH", path)
        assert problem_of(answer) == (405, "/problems/method-not-allowed"), path
        assert answer.headers["allow"] == methods, path


def unbounded_integers(
    node: Any, where: str, schema: dict[str, Any], seen: frozenset[str]
) -> list[str]:
    """Where an integer in `node` (a request's schema) lacks a lower or an upper bound."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += unbounded_integers(item, where, schema, seen)
        return found
    if not isinstance(node, dict):
        return found
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            found += unbounded_integers(
                schema_of(schema, name), f"{where}>{name}", schema, seen | {name}
            )
        return found
    if node.get("type") == "integer":
        low = "minimum" in node or "exclusiveMinimum" in node
        high = "maximum" in node or "exclusiveMaximum" in node
        if not (low and high):
            found.append(where)
    for name, member in node.get("properties", {}).items():
        found += unbounded_integers(member, f"{where}.{name}", schema, seen)
    for key in ("items", "anyOf", "allOf", "oneOf", "additionalProperties"):
        if key in node:
            found += unbounded_integers(node[key], where, schema, seen)
    return found


async def test_every_integer_a_request_carries_is_bounded(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    unbounded: list[str] = []
    for path, operations in schema["paths"].items():
        for method, described in operations.items():
            for parameter_ in described.get("parameters", []):
                where = f"{method} {path} {parameter_['name']}"
                unbounded += unbounded_integers(parameter_["schema"], where, schema, frozenset())
            for content in described.get("requestBody", {}).get("content", {}).values():
                where = f"{method} {path} body"
                unbounded += unbounded_integers(
                    content.get("schema", {}), where, schema, frozenset()
                )
    assert unbounded == []
