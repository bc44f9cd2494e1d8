"""Reads never queue behind writes (#15): the API answers a read while another connection holds
a write transaction open, and writes still wait for each other.

On SQLite the holder's transaction takes the database's write lock (BEGIN IMMEDIATE); before
reads were deferred, every request (its authentication lookup first) waited for that lock.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models.access import CreditAccount
from domain.accounts import Role
from testkit.factories import create_workshop, sign_in

pytestmark = pytest.mark.database

# Far below the 30 s busy timeout a blocked read would wait, far above an idle read.
READ_DEADLINE_S = 5.0


def idem() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid.uuid4().hex}"}


async def test_reads_answer_while_a_writer_holds_its_transaction_and_writes_wait(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    account_url = f"/workshops/{workshop_id}/account"
    top_up_url = f"{account_url}/top-ups"
    first = await api_client.post(
        top_up_url, json={"amount_cents": 1_000}, headers={**owner.headers, **idem()}
    )
    assert first.status_code == 201, first.text

    # Another connection writes and keeps its transaction open: on SQLite it holds the write
    # lock from BEGIN; on PostgreSQL it holds the account's row lock, as a top-up does.
    holder = session_factory()
    transaction = await holder.begin()
    try:
        await holder.execute(
            select(CreditAccount.workshop_id)
            .where(CreditAccount.workshop_id == workshop_id)
            .with_for_update()
        )

        # The whole read path (session lookup, user, account) answers at once.
        read = await asyncio.wait_for(
            api_client.get(account_url, headers=owner.headers), READ_DEADLINE_S
        )
        assert read.status_code == 200, read.text
        assert read.json()["balance_cents"] == 1_000
        entitlements = await asyncio.wait_for(
            api_client.get(f"/workshops/{workshop_id}/entitlements", headers=owner.headers),
            READ_DEADLINE_S,
        )
        assert entitlements.status_code == 200, entitlements.text

        # A write still waits for the writer ahead of it.
        second = asyncio.create_task(
            api_client.post(
                top_up_url, json={"amount_cents": 500}, headers={**owner.headers, **idem()}
            )
        )
        await asyncio.sleep(0.5)
        assert not second.done(), "a write went past an open write transaction"
    finally:
        await transaction.commit()
        await holder.close()

    written = await asyncio.wait_for(second, READ_DEADLINE_S)
    assert written.status_code == 201, written.text
    assert written.json()["balance_cents"] == 1_500


async def test_a_reading_session_cannot_write_on_sqlite(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A write by mistake through a reading session fails at once instead of taking the lock."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock; its reading session is plain")
    workshop_id = await create_workshop(session_factory)
    async with reading(session_factory) as session:
        with pytest.raises(OperationalError, match="readonly database"):
            await session.execute(
                text("UPDATE workshops SET name = 'renamed' WHERE id = :id"), {"id": workshop_id}
            )
    # The connection goes back to the pool and writes again for a writing session.
    async with session_factory() as session, session.begin():
        await session.execute(
            text("UPDATE workshops SET name = 'renamed' WHERE id = :id"), {"id": workshop_id}
        )
