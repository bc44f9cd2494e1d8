"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

import db.models
from db import migrate
from db.document_search import include_name
from db.engine import sync_url

pytestmark = pytest.mark.database


def _schema_differences(database_url: str) -> list[object]:
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        differences: list[object] = compare_metadata(context, db.models.Base.metadata)
    engine.dispose()
    return differences


def test_migrations_match_the_models(database_url: str) -> None:
    assert _schema_differences(database_url) == []


def test_migrations_downgrade_and_upgrade_again(database_url: str) -> None:
    migrate.downgrade(database_url, "base")
    migrate.upgrade(database_url)
    assert _schema_differences(database_url) == []
