"""Engines and sessions. One URL in settings; the async and sync drivers are derived from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _normalise(url: str | URL) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed


def async_url(url: str | URL) -> URL:
    """The asyncio driver for a configured URL (aiosqlite or psycopg 3)."""
    parsed = _normalise(url)
    driver = "aiosqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def sync_url(url: str | URL) -> URL:
    """The blocking driver for the same database (Alembic runs on it)."""
    parsed = _normalise(url)
    driver = "pysqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def ensure_sqlite_directory(url: str | URL) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


# The execution option that marks a read-only bind (set by `reading`, read by the SQLite rules).
READ_ONLY_OPTION = "aos_read_only"


def install_sqlite_transaction_rules(sync_engine: Any) -> None:
    """SQLite: WAL, foreign keys, and a BEGIN that depends on what the transaction is for.

    - Writing transactions (the session factory's default) open with BEGIN IMMEDIATE, so
      concurrent writers queue instead of failing: pysqlite's own handling defers the write
      lock, and two concurrent read-then-write transactions then fail with "database is
      locked" (the second cannot upgrade its snapshot); taking the lock at BEGIN avoids that.
    - Reading transactions (sessions from `reading`) open with a plain, deferred BEGIN under
      `PRAGMA query_only`: in WAL mode they read a snapshot without ever taking the write lock,
      so they neither wait for a writer nor make one wait, and a write through them fails at
      once instead of taking the lock by accident.

    synchronous=NORMAL is the usual setting with WAL: a commit survives a crash of the process;
    only a power loss may roll back the last commits, never corrupt the file.
    """

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # The driver's own transaction handling is off: `_on_begin` opens each transaction
        # (SQLAlchemy's documented recipe for pysqlite and aiosqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # Pooled connections serve readers and writers in turn; query_only is switched only
        # when the kind changes, and this is where each new connection's state is known.
        record.info[READ_ONLY_OPTION] = False

    @event.listens_for(sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        # A connection back in the pool must hold no transaction (a writing one would hold the
        # write lock). A session has ended its transaction already in the usual case, and then
        # no rollback is sent to the connection's thread.
        if dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY_OPTION, False))
        if connection.info.get(READ_ONLY_OPTION, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            connection.info[READ_ONLY_OPTION] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str | URL) -> AsyncEngine:
    """The application's async engine for a configured database URL."""
    ensure_sqlite_directory(url)
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        # A new SQLite connection costs a thread and five statements; the pool keeps enough
        # open for the API's concurrent requests and the workers' activities, so a burst does
        # not open and close connections (`pool_size` 5, the default, did at 10 clients).
        engine = create_async_engine(
            target,
            connect_args={"timeout": 30},
            pool_size=20,
            max_overflow=20,
            pool_reset_on_return=None,  # see _on_reset
        )
        install_sqlite_transaction_rules(engine.sync_engine)
        return engine
    return create_async_engine(target, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for the repositories. A session from the factory itself is a writing one (on
    SQLite its transactions take the write lock at BEGIN); `reading(factory)` gives one that
    only reads."""
    return async_sessionmaker(engine, expire_on_commit=False)


_read_only_binds: WeakKeyDictionary[AsyncEngine, AsyncEngine] = WeakKeyDictionary()


def reading(session_factory: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session for reads only, from a factory of `create_session_factory`.

    On SQLite its transactions never take the write lock: a read answers while another
    connection is writing, and a write through this session fails ("attempt to write a readonly
    database") rather than queueing every other writer behind a reader. A method that reads and
    then writes uses the factory's own (writing) session. PostgreSQL has no database-wide write
    lock; there the session is an ordinary one.
    """
    engine = session_factory.kw["bind"]
    read_only_bind = _read_only_binds.get(engine)
    if read_only_bind is None:
        # Same pool and connections, marked so the SQLite rules above open a deferred BEGIN.
        read_only_bind = engine.execution_options(**{READ_ONLY_OPTION: True})
        _read_only_binds[engine] = read_only_bind
    return session_factory(bind=read_only_bind)
