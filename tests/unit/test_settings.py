"""Production settings refuse the embedded defaults, except where a process does not use them."""

from __future__ import annotations

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
