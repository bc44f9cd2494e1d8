"""Sending the identical application again (a retry after a lost answer) is answered 200 with
the open registration, as the OpenAPI documents it; the first answer was 201."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from portal_app import create_app
from settings import Settings
from tests.accounts_helpers import APPLICATION


def test_the_openapi_documents_the_repeat_answer(
    settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    schema = create_app(settings, temporal=dev_env.client).openapi()
    responses = schema["paths"]["/registrations"]["post"]["responses"]
    created = {"$ref": "#/components/schemas/RegistrationCreated"}
    for status in ("201", "200"):
        assert responses[status]["content"]["application/json"]["schema"] == created, status
    assert "already open" in responses["200"]["description"]


async def test_a_repeated_application_answers_200_with_the_documented_body(
    api_client: httpx.AsyncClient, portal_on_dev_server: Settings
) -> None:
    first = await api_client.post("/registrations", json=APPLICATION)
    assert first.status_code == 201, first.text
    again = await api_client.post("/registrations", json=APPLICATION)
    assert again.status_code == 200, again.text
    assert again.headers["content-type"] == "application/json"
    assert again.json() == first.json()  # the same registration, in the same state

    documented = (await api_client.get("/openapi.json")).json()["components"]["schemas"]
    body_schema = documented["RegistrationCreated"]
    assert set(again.json()) == set(body_schema["properties"]) == set(body_schema["required"])
