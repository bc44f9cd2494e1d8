"""docker-compose.yml can only drift from the code silently; these checks make it loud."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

import worker
from settings import Settings

COMPOSE = yaml.safe_load((Path(__file__).parents[1] / "docker-compose.yml").read_text())
OUR_IMAGE = "aos-workflows:latest"


def _our_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = COMPOSE["services"]
    return {name: s for name, s in services.items() if s.get("image") == OUR_IMAGE}


def test_every_service_of_ours_runs_a_real_entry_point() -> None:
    commands = get_command(worker.cli).commands  # type: ignore[attr-defined]
    services = _our_services()
    assert {"api", "portal-worker", "station-worker", "migrate"} <= set(services)
    for name, service in services.items():
        command = service["command"]
        if command[0] == "uvicorn":
            module, _, factory = command[1].partition(":")
            assert callable(getattr(importlib.import_module(module), factory)), name
            assert "--factory" in command
        else:
            assert command[:2] == ["python", "worker.py"], name
            assert command[2] in commands, f"{name}: worker.py has no command {command[2]!r}"
            options = {p.opts[0] for p in commands[command[2]].params if p.opts}
            for word in command[3:]:
                if word.startswith("--"):
                    assert word in options, f"{name}: {command[2]} has no option {word}"


def test_every_aos_variable_is_a_setting() -> None:
    known = {f"AOS_{name.upper()}" for name in Settings.model_fields}
    for name, service in COMPOSE["services"].items():
        for variable in service.get("environment", {}) or {}:
            if variable.startswith("AOS_"):
                assert variable in known, f"{name} sets {variable}, which no setting reads"


def test_search_attributes_registered_in_production_match_the_code() -> None:
    from contracts import search_attributes

    command = " ".join(COMPOSE["services"]["temporal-setup"]["command"])
    registered = set(re.search(r"for attribute in ([\w ]+);", command).group(1).split())  # type: ignore[union-attr]
    assert registered == {key.name for key in search_attributes.ALL}


def test_only_the_gateway_faces_the_workshops_and_stations_hold_no_portal_secret() -> None:
    services: dict[str, dict[str, Any]] = COMPOSE["services"]
    public = {
        name
        for name, service in services.items()
        for port in service.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    }
    assert public == {"gateway"}
    assert COMPOSE["networks"]["portal"]["internal"] is True
    for name in ("temporal", "postgres", "portal-worker"):
        assert services[name]["networks"] == ["portal"], name
    station = services["station-worker"]["environment"]
    for secret in (
        "AOS_PAYLOAD_KEYS",
        "AOS_SECRET_KEY",
        "AOS_DATABASE_URL",
        "AOS_TEMPORAL_ADDRESS",
    ):
        assert secret not in station, secret
    assert {"AOS_GATEWAY_ADDRESS", "AOS_GATEWAY_CA_FILE", "AOS_STATION_TOKEN"} <= set(station)
    gateway = services["gateway"]["environment"]
    assert gateway["AOS_GATEWAY_CERTIFICATE_FILE"] and gateway["AOS_GATEWAY_PRIVATE_KEY_FILE"]


def test_every_service_comes_back_by_itself_or_is_a_one_shot_step() -> None:
    services: dict[str, dict[str, Any]] = COMPOSE["services"]
    for name, service in services.items():
        if service.get("restart") == "no":
            # A one-shot step (schema, migration, namespace): judged by its exit code, and
            # whatever needs it waits for it to have succeeded.
            waiting = [
                other
                for other, s in services.items()
                if (s.get("depends_on") or {}).get(name, {}).get("condition")
                == "service_completed_successfully"
            ]
            assert waiting, f"{name} runs once, but nothing waits for it to succeed"
            assert "healthcheck" not in service, name
            continue
        assert service.get("restart") == "unless-stopped", f"{name} has no restart policy"
        check = service.get("healthcheck") or {}
        assert check.get("test") and check.get("interval") and check.get("timeout"), name


def test_a_workers_health_check_reads_the_metrics_page_it_is_told_to_serve() -> None:
    services: dict[str, dict[str, Any]] = COMPOSE["services"]
    for name in ("portal-worker", "station-worker"):
        address = services[name]["environment"]["AOS_WORKER_METRICS_ADDRESS"]
        assert f"http://{address}/metrics" in " ".join(services[name]["healthcheck"]["test"]), name


def test_every_start_of_the_api_leaves_forwarded_headers_to_the_app() -> None:
    # uvicorn's own rewrite believes X-Forwarded-For from 127.0.0.1; the app believes it from
    # AOS_TRUSTED_PROXIES only (api/edge.py), so every command serving the API turns uvicorn's off.
    root = Path(__file__).parents[1]
    cmd = next(
        line for line in (root / "Dockerfile").read_text().splitlines() if line[:4] == "CMD "
    )
    starts = {
        "docker-compose api": COMPOSE["services"]["api"]["command"],
        "Dockerfile CMD": json.loads(cmd.removeprefix("CMD ")),
        "make dev": worker.api_command(Settings())[2:],  # after `python -m`
    }
    for where, command in starts.items():
        assert command[: len(worker.UVICORN_API)] == worker.UVICORN_API, where
