"""What a workshop may use is read in the same few statements however many services it has
bought: every service's coverage is one read of the tickets, and the signed-in check one read
of the session with its account (`GET /workshops/{id}/entitlements` and the console's
applications page, which every signed-in workshop person opens first)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.security import SESSION_COOKIE
from domain.accounts import Role
from domain.catalogue import Service
from testkit.factories import create_workshop, grant_ticket, sign_in

pytestmark = pytest.mark.database


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL statements every engine of this process runs meanwhile."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def reading(statements: list[str], table: str) -> list[str]:
    """The statements that read `table`."""
    pattern = re.compile(rf"\b(FROM|JOIN)\s+{table}\b", re.IGNORECASE)
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and pattern.search(s)]


async def test_every_service_s_coverage_is_one_read_of_the_tickets(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    now = datetime.now(UTC)
    for service in Service:
        await grant_ticket(
            session_factory, workshop_id, now - timedelta(hours=1), now + timedelta(days=1), service
        )

    with statements_run() as seen:
        answer = await api_client.get(
            f"/workshops/{workshop_id}/entitlements", headers=owner.headers
        )
    assert answer.status_code == 200, answer.text
    assert {row["service"]: row["state"] for row in answer.json()} == {
        service.value: "active" for service in Service
    }
    assert len(reading(seen, "tickets")) == 1, seen

    api_client.cookies.set(SESSION_COOKIE, owner.token)
    with statements_run() as seen:
        page = await api_client.get("/console/")
    assert page.status_code == 200, page.text
    assert 'id="app-ecu_programming"' in page.text
    assert len(reading(seen, "tickets")) == 1, seen
    assert len(reading(seen, "users")) == 1, seen  # the session and its account, together
