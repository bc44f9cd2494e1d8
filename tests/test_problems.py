"""Every error the API answers is an RFC 9457 problem document."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field

from domain.errors import Conflict
from testkit.serving import running_api
from web.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers


async def test_unknown_route_is_a_problem(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "/problems/not-found"
    assert body["status"] == 404
    assert body["instance"] == "/no/such/thing"


async def test_wrong_method_is_a_problem(api_client: httpx.AsyncClient) -> None:
    response = await api_client.delete("/health/live")
    assert response.status_code == 405
    assert response.json()["type"] == "/problems/method-not-allowed"


class _Address(BaseModel):
    country: str = Field(pattern="^[A-Z]{2}$")


class _Body(BaseModel):
    name: str
    address: _Address


def _app_with_rules() -> FastAPI:
    # The validation and domain-error handlers are shared by every router; this app exercises
    # them with a body shape that has a nested field before real endpoints exist.
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: _Body) -> dict[str, str]:
        if body.name == "taken":
            raise Conflict("a thing with this name exists", field="name", existing_id="t-1")
        return {"name": body.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret VIN WBA0000000000000 leaked")

    return app


async def test_validation_error_names_the_nested_field() -> None:
    async with running_api(_app_with_rules()) as client:
        response = await client.post("/things", json={"name": "x", "address": {"country": "nl"}})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert body["field"] == "address.country"
    assert body["errors"][0]["field"] == "address.country"


async def test_domain_error_keeps_its_type_field_and_facts() -> None:
    async with running_api(_app_with_rules()) as client:
        response = await client.post(
            "/things", json={"name": "taken", "address": {"country": "NL"}}
        )
    assert response.status_code == 409
    body = response.json()
    assert body["type"] == "/problems/conflict"
    assert body["field"] == "name"
    assert body["existing_id"] == "t-1"


async def test_unexpected_error_does_not_leak_its_message() -> None:
    app = _app_with_rules()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal-error"
    assert "WBA" not in response.text


async def test_openapi_is_served(api_client: httpx.AsyncClient) -> None:
    schema = (await api_client.get("/openapi.json")).json()
    assert "/health/ready" in schema["paths"]
    assert (await api_client.get("/docs")).status_code == 200
