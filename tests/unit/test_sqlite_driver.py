"""The SQLite engine's driver: each statement in one hand-over to the connection's thread, with
what SQLAlchemy reads of a cursor (rows, row counts, errors) as the stock driver gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
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


@pytest.fixture
def hand_overs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each function handed to an aiosqlite connection's thread."""
    seen: list[str] = []
    handed_over = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await handed_over(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


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


async def test_a_transaction_is_one_hand_over_per_statement_and_one_to_end_it(
    engine: AsyncEngine, hand_overs: list[str]
) -> None:
    async with engine.connect() as connection:  # connected once: a pooled connection after
        await connection.execute(text("SELECT 1"))
    hand_overs.clear()
    async with engine.begin() as connection:
        await connection.execute(text("SELECT id, name FROM part"))
    # BEGIN travels with the SELECT; the stock driver takes six (BEGIN, four for the SELECT,
    # COMMIT)
    assert hand_overs == ["run_statement", "commit"]
    hand_overs.clear()
    async with engine.begin():  # a transaction without statements never reaches SQLite
        pass
    assert hand_overs == []


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
