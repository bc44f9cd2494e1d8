"""Production settings refuse the embedded defaults, except where a process does not use them."""

from __future__ import annotations

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
