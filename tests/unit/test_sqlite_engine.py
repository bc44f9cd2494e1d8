"""The SQLite engine (SQLAlchemy's stock aiosqlite dialect under db.engine's transaction rules):
rows, row counts and errors as SQLite gives them, writers that take the lock at BEGIN, and
readers and writers taking turns on pooled connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine, create_session_factory, reading


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path}/driver.db")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE part (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        )
    yield engine
    await engine.dispose()


async def test_rows_counts_and_returning_come_back_as_from_sqlite(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO part (name) VALUES (:name)"),
            [{"name": "gateway"}, {"name": "engine"}, {"name": "brakes"}],
        )
        renamed = await connection.execute(
            text("UPDATE part SET name = name || '-ecu' WHERE name != 'brakes'")
        )
        assert renamed.rowcount == 2
        returned = await connection.execute(
            text("UPDATE part SET name = 'abs' WHERE name = 'brakes' RETURNING id, name")
        )
        assert returned.all() == [(3, "abs")]
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, name FROM part ORDER BY id"))
        assert list(rows.keys()) == ["id", "name"]
        assert rows.all() == [(1, "gateway-ecu"), (2, "engine-ecu"), (3, "abs")]


async def test_a_failing_statement_raises_the_database_error_and_keeps_nothing(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(exc.IntegrityError, match="UNIQUE"):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO part (name) VALUES ('gateway')"))
            await connection.execute(text("INSERT INTO part (name) VALUES ('gateway')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM part"))).scalar() == 0


async def test_a_transaction_left_open_neither_keeps_its_writes_nor_the_write_lock(
    engine: AsyncEngine,
) -> None:
    """A writing transaction takes SQLite's write lock at BEGIN; one abandoned by its caller
    is rolled back before its connection serves anyone else, so the next writer goes on at
    once instead of waiting out the 30 s busy timeout."""
    with pytest.raises(RuntimeError):
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO part (name) VALUES ('gateway')"))
            raise RuntimeError("the caller fails mid-transaction")
    async with asyncio.timeout(5), engine.begin() as connection:
        await connection.execute(text("INSERT INTO part (name) VALUES ('engine')"))
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM part"))).scalars().all()
        assert names == ["engine"]


async def test_a_connection_back_in_the_pool_holds_no_transaction_sqlalchemy_did_not_see(
    engine: AsyncEngine,
) -> None:
    """The pool's reset rule: a transaction opened on the driver behind SQLAlchemy's back (so
    SQLAlchemy's own rollback on close skips it) is rolled back when the connection returns."""
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute("INSERT INTO part (name) VALUES ('gateway')")
        assert driver.in_transaction
    async with asyncio.timeout(5), engine.begin() as connection:
        await connection.execute(text("INSERT INTO part (name) VALUES ('engine')"))
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM part"))).scalars().all()
        assert names == ["engine"]


async def test_reading_and_writing_sessions_take_turns_on_one_connection(tmp_path: Path) -> None:
    """The pool's one connection serves a read-only session, an empty transaction, a writing
    one and a read-only one again: each begins as its kind, and a write through a reading
    session is refused without being kept."""
    engine = create_engine(f"sqlite:///{tmp_path}/turns.db")
    factory = create_session_factory(engine)
    try:
        async with factory.begin() as session:
            await session.execute(text("CREATE TABLE part (name TEXT)"))
        async with reading(factory) as session:
            assert (await session.execute(text("SELECT count(*) FROM part"))).scalar() == 0
        async with factory.begin():
            pass
        async with factory.begin() as session:
            await session.execute(text("INSERT INTO part VALUES ('gateway')"))
        async with reading(factory) as session:
            with pytest.raises(exc.OperationalError, match="readonly"):
                await session.execute(text("INSERT INTO part VALUES ('engine')"))
        async with reading(factory) as session:
            names = (await session.execute(text("SELECT name FROM part"))).scalars().all()
            assert names == ["gateway"]
    finally:
        await engine.dispose()
