"""Readiness tells which dependency is down; the API stays up while one is."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from portal_app import create_app
from settings import Settings
from temporal_client import data_converter
from testkit.serving import free_port, running_api


async def test_live_and_ready_when_everything_is_up(api_client: httpx.AsyncClient) -> None:
    assert (await api_client.get("/health/live")).json() == {"status": "ok"}
    ready = await api_client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == {"ok": True, "error": None}
    assert ready.json()["temporal"] == {"ok": True, "error": None}


async def test_ready_names_temporal_when_it_is_not_running(database_url: str) -> None:
    settings = Settings(database_url=database_url, temporal_address=f"127.0.0.1:{free_port()}")
    async with running_api(create_app(settings)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable"
        assert body["temporal"]["ok"] is False and body["temporal"]["error"]
        assert body["database"]["ok"] is True
        assert (await client.get("/health/live")).status_code == 200


async def test_ready_names_the_database_when_it_is_down(dev_env: WorkflowEnvironment) -> None:
    settings = Settings(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    async with running_api(create_app(settings, temporal=dev_env.client)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["database"]["ok"] is False
        assert ready.json()["temporal"]["ok"] is True


async def test_temporal_stopping_under_a_running_api_turns_ready_to_503(database_url: str) -> None:
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=data_converter(),
        port=port,
        dev_server_log_level="error",
    )
    settings = Settings(database_url=database_url, temporal_address=f"127.0.0.1:{port}")
    async with running_api(create_app(settings)) as client:
        try:
            assert (await client.get("/health/ready")).status_code == 200
        finally:
            await env.shutdown()
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["temporal"]["ok"] is False
        assert (await client.get("/health/live")).status_code == 200
