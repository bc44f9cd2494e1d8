"""A client that sees a registration `under_review` may decide at once.

`GET /registrations/{id}` reports the flow's own state; the workflow records that state in the
registrations table with an activity a moment later. The decision must be judged by the flow
(its update validator), not by that table, or a client that read `under_review` is told
"the registration is submitted" (409) in the gap.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from settings import Settings
from tests.accounts_helpers import APPLICATION, admin_headers, code_in, last_mail_to

pytestmark = pytest.mark.e2e

REGISTRATIONS = 20


async def _verified_registration(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession], number: int
) -> str:
    """A registration whose email is verified: its flow checks the VAT ID and starts review."""
    email = f"owner{number}@garage{number}.example"
    application = APPLICATION | {"vat_id": f"NL{100000000 + number}B01", "contact_email": email}
    applied = await api.post("/registrations", json=application)
    assert applied.status_code == 201, applied.text
    registration_id: str = applied.json()["registration_id"]
    code = code_in((await last_mail_to(session_factory, email)).body)
    verified = await api.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code}
    )
    assert verified.status_code == 200, verified.text
    return registration_id


async def _wait_for_under_review(api: httpx.AsyncClient, registration_id: str) -> None:
    # As tightly as a client would poll.
    for _ in range(2000):
        state = (await api.get(f"/registrations/{registration_id}")).json()["state"]
        if state == "under_review":
            return
        assert state in ("submitted", "email_verified"), state
        await asyncio.sleep(0.005)
    raise AssertionError(f"registration {registration_id} never reached under_review")


async def _decide_as_soon_as_under_review(
    api: httpx.AsyncClient, admin: dict[str, str], registration_id: str, approve: bool
) -> httpx.Response:
    await _wait_for_under_review(api, registration_id)
    return await api.post(
        f"/admin/registrations/{registration_id}/decision",
        json={"approve": approve, "reason": "checked"},
        headers=admin,
    )


async def test_deciding_the_moment_review_starts_is_never_refused(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    admin = await admin_headers(api_client, session_factory)
    refused: list[str] = []
    for number in range(REGISTRATIONS):
        registration_id = await _verified_registration(api_client, session_factory, number)
        approve = number % 2 == 0
        decided = await _decide_as_soon_as_under_review(api_client, admin, registration_id, approve)
        if decided.status_code != 200:
            refused.append(f"{number}: {decided.status_code} {decided.text}")
            continue
        assert decided.json()["state"] == ("approved" if approve else "rejected")
    assert not refused, "\n".join(refused)


@contextmanager
def database_busy(database_url: str) -> Iterator[None]:
    """Another writer holds SQLite's write lock: the flow's activities that record its state
    wait for it (busy timeout), while reads go on (WAL). The table falls behind the flow."""
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_the_flow_judges_while_the_table_still_says_submitted(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """The gap held open: the flow is under review, its table row is still `submitted`."""
    admin = await admin_headers(api_client, session_factory)
    registration_id = await _verified_registration(api_client, session_factory, 99)
    with database_busy(database_url):
        await _wait_for_under_review(api_client, registration_id)
        listed = await api_client.get("/admin/registrations", headers=admin)
        rows = {row["registration_id"]: row["state"] for row in listed.json()}
        assert rows[registration_id] == "submitted"  # the gap is open
        deciding = asyncio.create_task(
            api_client.post(
                f"/admin/registrations/{registration_id}/decision",
                json={"approve": True, "reason": "checked"},
                headers=admin,
            )
        )
        # Approving creates the workshop, a write: the answer waits for the database.
        done, _ = await asyncio.wait([deciding], timeout=1)
        assert not done, deciding.result().text
    decided = await deciding
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"


async def test_deciding_before_review_or_twice_is_refused(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Before review the flow's validator refuses, after the decision the table does (the flow
    has ended): 409 naming the state either way; an unknown registration is 404."""
    admin = await admin_headers(api_client, session_factory)
    email = "early@garage-early.example"
    applied = await api_client.post(
        "/registrations",
        json=APPLICATION | {"vat_id": "NL987654321B01", "contact_email": email},
    )
    registration_id = applied.json()["registration_id"]
    path = f"/admin/registrations/{registration_id}/decision"

    early = await api_client.post(path, json={"approve": True}, headers=admin)
    assert early.status_code == 409, early.text
    assert early.json()["type"] == "/problems/registration-not-under-review"
    assert early.json()["state"] == "submitted"

    code = code_in((await last_mail_to(session_factory, email)).body)
    verified = await api_client.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code}
    )
    assert verified.status_code == 200, verified.text
    first = await _decide_as_soon_as_under_review(api_client, admin, registration_id, False)
    assert first.status_code == 200, first.text

    again = await api_client.post(path, json={"approve": True}, headers=admin)
    assert again.status_code == 409, again.text
    assert again.json()["type"] == "/problems/registration-not-under-review"
    assert again.json()["state"] == "rejected"

    unknown = await api_client.post(
        "/admin/registrations/no-such-registration/decision", json={"approve": True}, headers=admin
    )
    assert unknown.status_code == 404, unknown.text


async def test_administrators_deciding_at_once_one_wins(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The first decision the flow accepts wins; its validator refuses the others while the
    outcome is being stored (and the table refuses any that come after the flow ended)."""
    admin = await admin_headers(api_client, session_factory)
    for number in range(3):
        registration_id = await _verified_registration(api_client, session_factory, 200 + number)
        await _wait_for_under_review(api_client, registration_id)
        answers = await asyncio.gather(
            *(
                api_client.post(
                    f"/admin/registrations/{registration_id}/decision",
                    json={"approve": attempt % 2 == 0},
                    headers=admin,
                )
                for attempt in range(6)
            )
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] + [409] * 5, [answer.text for answer in answers]
        for answer in answers:
            if answer.status_code == 409:
                assert answer.json()["type"] == "/problems/registration-not-under-review"
