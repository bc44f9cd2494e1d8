"""Production settings refuse the embedded defaults, except where a process does not use them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import Settings


def test_production_refuses_the_embedded_secret_and_sqlite() -> None:
    with pytest.raises(ValidationError, match="AOS_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment="production", secret_key="x" * 32)
    Settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql+psycopg://portal@db/aos",
    )


def test_a_station_on_its_own_machine_needs_neither_secret_nor_database() -> None:
    station = Settings(
        environment="production",
        portal_url="https://portal.example",
        station_token="a-station-token",
    )
    assert station.database_url.startswith("sqlite")  # never opened by a station worker


def test_the_gateway_speaks_tls_and_production_brings_its_own_certificate(tmp_path: Path) -> None:
    production = Settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql+psycopg://portal@db/aos",
    )
    with pytest.raises(ValueError, match="AOS_GATEWAY_CERTIFICATE_FILE"):
        production.gateway_server_files()
    given = production.model_copy(
        update={
            "gateway_certificate_file": tmp_path / "server.pem",
            "gateway_private_key_file": tmp_path / "server-key.pem",
        }
    )
    assert given.gateway_server_files() == (tmp_path / "server.pem", tmp_path / "server-key.pem")
    # The embedded mode makes a local CA; there is no plaintext gateway in either mode.
    assert Settings().gateway_server_files() is None


def test_only_the_web_uis_origin_may_call_the_codec_from_a_browser() -> None:
    embedded = Settings(temporal_ui_port=9233)
    assert embedded.temporal_ui_origins == {"http://127.0.0.1:9233", "http://localhost:9233"}
    production = Settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql+psycopg://portal@db/aos",
    )
    assert production.temporal_ui_origins == frozenset()  # no CORS until configured
    configured = production.model_copy(update={"temporal_ui_origin": "https://ui.example/"})
    assert configured.temporal_ui_origins == {"https://ui.example"}
    for not_an_origin in ("ui.example", "https://ui.example/codec", "https://ui.example?x=1"):
        with pytest.raises(ValidationError, match="temporal_ui_origin"):
            Settings(temporal_ui_origin=not_an_origin)


def test_make_dev_points_the_web_ui_at_the_codec_when_payloads_are_encrypted() -> None:
    from worker import temporal_dev_server_command

    plain = temporal_dev_server_command(Settings(api_port=8100))
    assert "--ui-codec-endpoint" not in plain
    keys = "k1=" + base64.b64encode(bytes(32)).decode()
    encrypted = temporal_dev_server_command(Settings(api_port=8100, payload_keys=keys))
    endpoint = encrypted[encrypted.index("--ui-codec-endpoint") + 1]
    assert endpoint == "http://127.0.0.1:8100/codec"
