"""An expected refusal is one log line, not a warning with tracebacks (issue #15)."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.accounts import Role
from settings import Settings
from testkit.factories import create_workshop, sign_in

pytestmark = pytest.mark.e2e


async def test_a_refused_purchase_is_logged_as_one_line_without_traceback(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    caplog.set_level(logging.INFO)

    poor = await api_client.post(
        f"/workshops/{workshop_id}/tickets",
        json={"service": "technical_information", "period": "hour"},
        headers={**owner.headers, "Idempotency-Key": f"ticket-{uuid.uuid4().hex}"},
    )

    assert (poor.status_code, poor.json()["type"]) == (402, "/problems/insufficient-credit")
    about_it = [r for r in caplog.records if "insufficient-credit" in r.getMessage()]
    assert len(about_it) == 1, [r.getMessage() for r in about_it]
    (line,) = about_it
    assert line.levelno == logging.INFO and line.exc_info is None
    assert "\n" not in line.getMessage()
    assert "purchase" in line.getMessage()  # names the activity that refused
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
