"""aiosqlite under SQLAlchemy, one round trip to the connection's thread per statement.

aiosqlite runs each SQLite connection in a thread of its own; every call on it is a hand-over
to that thread and back, which costs the event loop a wake-up and the interpreter lock a switch.
SQLAlchemy's adapter makes four per statement (open a cursor, execute, fetch the rows, close
it): 12 of the 18 hand-overs of an authenticated `POST /service-entries` with its three reads.
Here the whole statement (cursor, execute, rows, close) runs in one, and SQLAlchemy reads the
description, row count and last row id from what that hand-over brought back. A transaction's
BEGIN (see `db.engine`) travels with its first statement, and ending a transaction that never
reached SQLite costs nothing: a one-statement read is two hand-overs, where it was six.

Server-side cursors (`stream()`), which fetch in parts, keep SQLAlchemy's own cursor.
The aiosqlite version is pinned: this uses its connection's queue (`_execute`) and the
sqlite3 connection it holds (`_conn`), which are not public.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


class FinishedStatement:
    """What SQLAlchemy reads of a cursor once its statement has run (filled in the
    connection's thread, read after the hand-over completed)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed in the connection's thread."""


def run_statement(
    connection: sqlite3.Connection,
    operation: str,
    parameters: Any,
    finished: FinishedStatement,
    many: bool = False,
    opening: Sequence[str] = (),
) -> list[Any]:
    """Runs in the connection's thread: the `opening` statements (a BEGIN), then the statement,
    its rows (if it returns any), and what SQLAlchemy reads of the cursor afterwards."""
    for statement in opening:
        connection.execute(statement).close()
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        finished.description = cursor.description
        finished.rowcount = cursor.rowcount
        finished.lastrowid = cursor.lastrowid
        return cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()


async def execute_in_one_round_trip(
    connection: aiosqlite.Connection,
    operation: str,
    parameters: Any = None,
    many: bool = False,
    opening: Sequence[str] = (),
) -> tuple[FinishedStatement, list[Any]]:
    """A statement on an aiosqlite connection, in one hand-over to its thread."""
    finished = FinishedStatement()
    rows = await connection._execute(
        run_statement, connection._conn, operation, parameters, finished, many, opening
    )
    return finished, rows


class OneRoundTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False  # closing a finished statement is local

    def _make_new_cursor(self, connection: Any) -> Any:
        return FinishedStatement()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            finished, rows = await execute_in_one_round_trip(
                cast(aiosqlite.Connection, self._connection),
                operation,
                parameters,
                opening=cast(OneRoundTripConnection, self._adapt_connection).take_opening(),
            )
            self._cursor = cast(Any, finished)
            if finished.description:
                self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        async with self._adapt_connection._execute_mutex:
            finished, _ = await execute_in_one_round_trip(
                cast(aiosqlite.Connection, self._connection),
                operation,
                seq_of_parameters,
                many=True,
                opening=cast(OneRoundTripConnection, self._adapt_connection).take_opening(),
            )
            self._cursor = cast(Any, finished)


class OneRoundTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_opening",)
    _cursor_cls = OneRoundTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._opening: list[str] = []

    def run_before_next_statement(self, statement: str) -> None:
        """Run `statement` (one without results: BEGIN, a PRAGMA) in the same hand-over as the
        next statement, ahead of it."""
        self._opening.append(statement)

    def take_opening(self) -> list[str]:
        opening, self._opening = self._opening, []
        return opening

    def commit(self) -> None:
        if self._transaction_reached_sqlite():
            super().commit()

    def rollback(self) -> None:
        if self._transaction_reached_sqlite():
            super().rollback()

    def _transaction_reached_sqlite(self) -> bool:
        """Whether there is a transaction to end. One whose BEGIN is still waiting for a first
        statement never began: its BEGIN is dropped (a PRAGMA still waits for the next one)."""
        self._opening = [s for s in self._opening if not s.startswith("BEGIN")]
        driver = cast(aiosqlite.Connection, self._connection)
        # Read between statements, when the connection's thread has nothing of this session.
        return driver._connection is not None and driver.in_transaction


class OneRoundTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module for `create_async_engine(..., module=...)`."""

    def connect(self, *arg: Any, **kw: Any) -> OneRoundTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneRoundTripConnection(self, adapted._connection)


def one_round_trip_dbapi() -> OneRoundTripDbapi:
    return OneRoundTripDbapi(aiosqlite, sqlite3)
