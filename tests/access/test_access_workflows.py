"""Ticket purchases and coverage on Temporal's time-skipping server, with the real activities."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.access import AccessActivities, IssuedTicket, IssueTicketInput
from contracts.access import (
    EntitlementInput,
    TicketIssued,
    TicketPurchaseInput,
    TicketWindow,
    entitlement_workflow_id,
    ticket_purchase_workflow_id,
)
from contracts.errors import domain_error_from_failure
from db.access_repository import AccessRepository
from db.models import LedgerEntry, OutboxMail, Ticket
from domain.catalogue import Service, TicketPeriod, period_end
from domain.credit import InsufficientCredit, TicketNotIssued
from portal_worker import workflow_runner
from testkit.factories import create_workshop
from tests.access.conftest import CoverageSubscriber, Portal
from workflows.entitlement import EntitlementWorkflow
from workflows.ticket_purchase import TicketPurchaseWorkflow

pytestmark = pytest.mark.database

HOUR_PRICE = 500  # technical_information / hour in domain/data/prices.json
TI = Service.TECHNICAL_INFORMATION


async def _outbox(session_factory: async_sessionmaker[AsyncSession]) -> list[OutboxMail]:
    async with session_factory() as session:
        return list((await session.scalars(select(OutboxMail))).all())


async def _ledger(session_factory: async_sessionmaker[AsyncSession], ws: str) -> list[LedgerEntry]:
    async with session_factory() as session:
        query = select(LedgerEntry).where(LedgerEntry.workshop_id == ws).order_by(LedgerEntry.id)
        return list((await session.scalars(query)).all())


async def test_one_hour_ticket_covers_exactly_one_hour_and_warns_before(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    await portal.top_up(ws, 10_000)
    assert (await portal.probe(ws, TI)).code == "no-access"

    result = await portal.buy(ws, TI, TicketPeriod.HOUR, "hour-ticket-1")
    ticket = result.ticket
    assert ticket.ends_at - ticket.starts_at == timedelta(hours=1)
    assert ticket.price_cents == HOUR_PRICE
    assert await portal.repository.balance(ws) == 10_000 - HOUR_PRICE

    await portal.sleep_until(ticket.ends_at - timedelta(seconds=1))  # 59:59 after the start
    at_59_59 = await portal.probe(ws, TI)
    assert at_59_59.allowed
    assert at_59_59.remaining is not None and at_59_59.remaining <= timedelta(seconds=1)

    # The notice went out 10 minutes before the end (the mail activity runs asynchronously).
    for _ in range(50):
        mails = [m for m in await _outbox(session_factory) if m.category == "access-expiry"]
        if mails:
            break
        await asyncio.sleep(0.1)
    assert [(m.recipient, m.subject) for m in mails] == [
        (f"{ws}@garage.example", "Your access to Technical information ends soon")
    ]
    # An English reader gets the time in UTC, named so.
    assert f"ends at {ticket.ends_at.astimezone(UTC):%-d %B %Y, %H:%M} UTC" in mails[0].body

    await portal.sleep_until(ticket.ends_at)  # 1:00:00
    at_end = await portal.probe(ws, TI)
    assert not at_end.allowed
    assert at_end.code == "access-expired"
    assert at_end.ended_at == ticket.ends_at.isoformat()
    assert at_end.purchase == f"/workshops/{ws}/tickets"
    entitlement = portal.env.client.get_workflow_handle(entitlement_workflow_id(ws, TI))
    # The flow's timer fired at 1:00:00; a query may still be answered before the flow has
    # taken that timer's task (seen under load), so ask until it has.
    for _ in range(50):
        state = (await entitlement.query(EntitlementWorkflow.coverage)).state
        if state == "expired":
            break
        await asyncio.sleep(0.1)
    assert state == "expired"


async def test_one_year_ticket_expires_after_a_year(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    await portal.top_up(ws, 200_000)
    ticket = (await portal.buy(ws, TI, TicketPeriod.YEAR, "year-ticket-1")).ticket
    assert ticket.ends_at == period_end(ticket.starts_at, TicketPeriod.YEAR)
    assert ticket.ends_at - ticket.starts_at >= timedelta(days=365)

    await portal.sleep_until(ticket.ends_at - timedelta(hours=1))
    assert (await portal.probe(ws, TI)).allowed
    await portal.sleep_until(ticket.ends_at + timedelta(seconds=1))
    outcome = await portal.probe(ws, TI)
    assert (outcome.code, outcome.ended_at) == ("access-expired", ticket.ends_at.isoformat())
    entitlement = portal.env.client.get_workflow_handle(entitlement_workflow_id(ws, TI))
    coverage = await entitlement.query(EntitlementWorkflow.coverage)
    assert coverage.state == "expired"
    assert coverage.last_ended_at == ticket.ends_at


async def test_second_ticket_extends_coverage_and_tells_subscribers(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    await portal.top_up(ws, 10_000)
    first = (await portal.buy(ws, TI, TicketPeriod.HOUR, "extend-first")).ticket
    subscriber = await portal.env.client.start_workflow(
        CoverageSubscriber.run,
        entitlement_workflow_id(ws, TI),
        id=f"session-{ws}",
        task_queue=portal.probe_queue,
    )
    entitlement = portal.env.client.get_workflow_handle(entitlement_workflow_id(ws, TI))
    for _ in range(50):  # wait until the subscription has arrived
        if (await entitlement.query(EntitlementWorkflow.coverage)).subscribers:
            break
        await asyncio.sleep(0.1)

    await portal.sleep_until(first.starts_at + timedelta(minutes=30))
    second = (await portal.buy(ws, TI, TicketPeriod.HOUR, "extend-second")).ticket
    assert second.starts_at == first.ends_at  # contiguous, not overlapping
    assert second.ends_at == first.ends_at + timedelta(hours=1)

    with portal.env.auto_time_skipping_disabled():
        extended = await subscriber.result()
    assert extended.ends_at == second.ends_at
    assert extended.starts_at == first.starts_at

    await portal.sleep_until(first.ends_at + timedelta(minutes=1))
    still = await portal.probe(ws, TI)
    assert still.allowed and still.remaining is not None
    assert timedelta(minutes=58) < still.remaining <= timedelta(minutes=59)
    await portal.sleep_until(second.ends_at)
    assert (await portal.probe(ws, TI)).code == "access-expired"


async def test_failed_issue_returns_the_reserved_credit(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    await portal.top_up(ws, 1_000)
    real = AccessActivities(AccessRepository(session_factory))

    @activity.defn(name="issue_ticket")
    async def issue_ticket_fails(request: IssueTicketInput) -> IssuedTicket:
        raise ApplicationError("the ticket store is unavailable", non_retryable=True)

    queue = f"{portal.task_queue}-failing"
    async with Worker(
        portal.env.client,
        task_queue=queue,
        workflows=[TicketPurchaseWorkflow, EntitlementWorkflow],
        activities=[real.reserve_credit, issue_ticket_fails, real.release_credit],
        workflow_runner=workflow_runner(),
    ):
        with (
            portal.env.auto_time_skipping_disabled(),
            pytest.raises(WorkflowFailureError) as failure,
        ):
            await portal.env.client.execute_workflow(
                TicketPurchaseWorkflow.run,
                TicketPurchaseInput(
                    workshop_id=ws,
                    idempotency_key="fails-to-issue",
                    service=TI,
                    period=TicketPeriod.HOUR,
                ),
                id=ticket_purchase_workflow_id(ws, "fails-to-issue"),
                task_queue=queue,
            )
    error = domain_error_from_failure(failure.value)
    assert isinstance(error, TicketNotIssued)
    assert error.context["price"] == HOUR_PRICE
    ledger = await _ledger(session_factory, ws)
    assert [(e.kind, e.amount_cents) for e in ledger] == [
        ("top_up", 1_000),
        ("purchase", -HOUR_PRICE),
        ("refund", HOUR_PRICE),
    ]
    assert await portal.repository.balance(ws) == 1_000
    assert await portal.repository.tickets(ws) == []


async def test_insufficient_credit_is_refused_with_balance_and_price(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    await portal.top_up(ws, 499)
    with pytest.raises(WorkflowFailureError) as failure:
        await portal.buy(ws, TI, TicketPeriod.HOUR, "too-poor-1")
    error = domain_error_from_failure(failure.value)
    assert isinstance(error, InsufficientCredit)
    assert (error.context["balance"], error.context["price"]) == (499, HOUR_PRICE)
    assert [e.kind for e in await _ledger(session_factory, ws)] == ["top_up"]


async def test_fifty_simultaneous_purchases_against_credit_for_ten(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    await portal.top_up(ws, 10 * HOUR_PRICE)
    outcomes = await asyncio.gather(
        *(portal.buy(ws, TI, TicketPeriod.HOUR, f"rush-{n:02d}") for n in range(50)),
        return_exceptions=True,
    )
    bought = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [domain_error_from_failure(o) for o in outcomes if isinstance(o, BaseException)]
    assert len(bought) == 10
    assert all(isinstance(e, InsufficientCredit) for e in refused) and len(refused) == 40

    ledger = await _ledger(session_factory, ws)
    running = 0
    for entry in ledger:
        running += entry.amount_cents
        assert running >= 0
    assert running == await portal.repository.balance(ws) == 0
    async with session_factory() as session:
        tickets = (
            await session.scalars(
                select(Ticket).where(Ticket.workshop_id == ws).order_by(Ticket.starts_at)
            )
        ).all()
    assert len(tickets) == 10
    for before, after in itertools.pairwise(tickets):
        assert after.starts_at == before.ends_at


async def test_entitlement_continues_as_new_and_keeps_its_coverage(portal: Portal) -> None:
    client, ws = portal.env.client, "ws-continue-as-new"
    start = await portal.env.get_current_time()

    def hour(n: int) -> TicketIssued:
        return TicketIssued(
            ticket=TicketWindow(
                ticket_id=f"t{n}",
                period=TicketPeriod.HOUR,
                starts_at=start + timedelta(hours=n),
                ends_at=start + timedelta(hours=n + 1),
            )
        )

    with portal.env.auto_time_skipping_disabled():
        handle = await client.start_workflow(
            EntitlementWorkflow.run,
            EntitlementInput(workshop_id=ws, service=TI, history_length_limit=12),
            id=entitlement_workflow_id(ws, TI),
            task_queue=portal.task_queue,
            start_signal="ticket_issued",
            start_signal_args=[hour(0)],
        )
        first_run = handle.result_run_id
        latest = client.get_workflow_handle(handle.id)
        for n in range(1, 8):
            await latest.signal(EntitlementWorkflow.ticket_issued, hour(n))
            await asyncio.sleep(0.05)
        for _ in range(50):
            coverage = await latest.query(EntitlementWorkflow.coverage)
            described = await latest.describe()
            if described.run_id != first_run and coverage.ends_at == start + timedelta(hours=8):
                break
            await asyncio.sleep(0.1)
        portal.workshops.append(ws)
    assert described.run_id != first_run
    assert coverage.state == "active"
    assert (coverage.starts_at, coverage.ends_at) == (start, start + timedelta(hours=8))
