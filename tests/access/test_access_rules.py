"""The pure access rules at their exact boundaries, and domain errors across Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from contracts.errors import domain_error_from, domain_failure, to_application_error
from db.prices import load_price_file
from domain.catalogue import (
    InvalidPriceList,
    Service,
    TicketPeriod,
    parse_price_list,
    period_end,
)
from domain.credit import (
    InsufficientCredit,
    InvalidAmount,
    check_amount,
    ensure_affordable,
    normalise_voucher_code,
)
from domain.entitlement import (
    AccessExpired,
    CoverageWindow,
    NoAccess,
    check_access,
    expiry_notice_at,
    next_ticket_start,
    remaining,
)

T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
HOUR = CoverageWindow(T0, T0 + timedelta(hours=1))
TI = Service.TECHNICAL_INFORMATION


def test_hour_ticket_allows_at_59_59_and_refuses_at_one_hour() -> None:
    assert check_access("ws-1", TI, [HOUR], T0).remaining == timedelta(hours=1)
    at_59_59 = check_access("ws-1", TI, [HOUR], T0 + timedelta(minutes=59, seconds=59))
    assert at_59_59.remaining == timedelta(seconds=1)
    with pytest.raises(AccessExpired) as expired:
        check_access("ws-1", TI, [HOUR], T0 + timedelta(hours=1))
    assert expired.value.context == {
        "service": "technical_information",
        "ended_at": (T0 + timedelta(hours=1)).isoformat(),
        "purchase": "/workshops/ws-1/tickets",
    }


def test_before_the_first_ticket_there_is_no_access() -> None:
    with pytest.raises(NoAccess) as refused:
        check_access("ws-1", TI, [HOUR], T0 - timedelta(microseconds=1))
    assert refused.value.context["purchase"] == "/workshops/ws-1/tickets"
    with pytest.raises(NoAccess):
        check_access("ws-1", TI, [], T0)


def test_following_tickets_merge_into_one_coverage() -> None:
    second = CoverageWindow(HOUR.ends_at, HOUR.ends_at + timedelta(days=1))
    assert next_ticket_start([HOUR], T0 + timedelta(minutes=30)) == HOUR.ends_at
    assert next_ticket_start([HOUR], HOUR.ends_at) == HOUR.ends_at  # expired: starts now
    assert next_ticket_start([HOUR], HOUR.ends_at + timedelta(seconds=1)) == (
        HOUR.ends_at + timedelta(seconds=1)
    )
    # A purchase whose clock read a moment before another ticket began still follows it.
    assert next_ticket_start([HOUR], T0 - timedelta(milliseconds=200)) == HOUR.ends_at
    assert next_ticket_start([], T0) == T0
    assert remaining([HOUR, second], T0) == timedelta(days=1, hours=1)
    assert remaining([HOUR, second], second.ends_at) == timedelta(0)


def test_periods_and_calendar_months() -> None:
    assert period_end(T0, TicketPeriod.HOUR) == T0 + timedelta(hours=1)
    assert period_end(T0, TicketPeriod.DAY) == T0 + timedelta(days=1)
    assert period_end(T0, TicketPeriod.WEEK) == T0 + timedelta(days=7)
    assert period_end(T0, TicketPeriod.MONTH) == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert period_end(T0, TicketPeriod.YEAR) == datetime(2027, 1, 31, 10, tzinfo=UTC)
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert period_end(leap, TicketPeriod.YEAR) == datetime(2029, 2, 28, tzinfo=UTC)


def test_expiry_notice_lead_times() -> None:
    end = T0 + timedelta(days=30)
    assert expiry_notice_at(end, TicketPeriod.HOUR) == end - timedelta(minutes=10)
    assert expiry_notice_at(end, TicketPeriod.DAY) == end - timedelta(hours=2)
    for period in (TicketPeriod.WEEK, TicketPeriod.MONTH, TicketPeriod.YEAR):
        assert expiry_notice_at(end, period) == end - timedelta(hours=24)


def test_default_price_file_prices_everything() -> None:
    prices = load_price_file()
    assert prices.price(TI, TicketPeriod.HOUR) == 500
    assert len(prices.prices) == len(Service) * len(TicketPeriod)
    with pytest.raises(InvalidPriceList):
        parse_price_list({"currency": "EUR", "prices": {"teleservice": {"hour": 1}}})


def test_amounts_and_credit() -> None:
    assert check_amount(1) == 1
    for bad in (0, -5, 10**9):
        with pytest.raises(InvalidAmount):
            check_amount(bad)
    ensure_affordable(500, 500)
    with pytest.raises(InsufficientCredit) as short:
        ensure_affordable(499, 500)
    assert short.value.context == {"balance": 499, "price": 500}
    assert normalise_voucher_code(" spring-2026 ") == "SPRING-2026"


def test_domain_error_survives_activity_workflow_and_client() -> None:
    original = InsufficientCredit("not enough", balance=1, price=2)
    from_activity = to_application_error(original)
    assert (from_activity.type, from_activity.non_retryable) == ("insufficient-credit", True)
    wrapped = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="reserve_credit",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    wrapped.__cause__ = from_activity
    raised_by_workflow = domain_failure(wrapped)
    assert isinstance(raised_by_workflow, ApplicationError)
    back = domain_error_from(raised_by_workflow)
    assert isinstance(back, InsufficientCredit)
    assert (back.detail, back.context) == ("not enough", {"balance": 1, "price": 2})
    assert domain_error_from(ApplicationError("plain")) is None
