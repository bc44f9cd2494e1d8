"""Alembic environment: runs migrations on the blocking driver of the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import db.models
from db.document_search import include_name
from db.engine import sync_url
from settings import get_settings

config = context.config
# `db.migrate` passes the URL; a bare `alembic upgrade head` falls back to AOS_DATABASE_URL.
url: str = config.attributes.get("database_url") or sync_url(
    get_settings().database_url
).render_as_string(hide_password=False)

target_metadata = db.models.Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            # The full-text index is not a model (db.document_search keeps it).
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
