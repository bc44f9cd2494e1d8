"""Who may use a service when: coverage windows from tickets, the access check, expiry notices.

A ticket covers the half-open window [starts_at, ends_at): at `ends_at` itself access is over.
Tickets of one service bought while another is active start when it ends, so the windows of a
workshop and service touch and merge into one coverage window.

This module is pure: no I/O, no imports from other project packages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.catalogue import Service, TicketPeriod
from domain.errors import DomainError

# How long before the end of coverage the workshop is told. For a 1-day ticket: 2 hours, so a
# workshop that works through the day hears about it in time to buy before closing.
EXPIRY_NOTICE_LEAD: dict[TicketPeriod, timedelta] = {
    TicketPeriod.HOUR: timedelta(minutes=10),
    TicketPeriod.DAY: timedelta(hours=2),
    TicketPeriod.WEEK: timedelta(hours=24),
    TicketPeriod.MONTH: timedelta(hours=24),
    TicketPeriod.YEAR: timedelta(hours=24),
}


class NoAccess(DomainError):
    code = "no-access"
    title = "The workshop has no access to this service"
    kind = "forbidden"


class AccessExpired(DomainError):
    code = "access-expired"
    title = "The workshop's access to this service has ended"
    kind = "forbidden"


@dataclass(frozen=True)
class CoverageWindow:
    """[starts_at, ends_at): one ticket's window, or several touching ones merged."""

    starts_at: datetime
    ends_at: datetime

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class Coverage:
    """The outcome of a successful access check."""

    service: Service
    window: CoverageWindow
    remaining: timedelta


def purchase_route(workshop_id: str) -> str:
    return f"/workshops/{workshop_id}/tickets"


def merge_windows(windows: Iterable[CoverageWindow]) -> list[CoverageWindow]:
    """Touching or overlapping windows become one; the result is sorted and disjoint."""
    merged: list[CoverageWindow] = []
    for window in sorted(windows, key=lambda w: (w.starts_at, w.ends_at)):
        if merged and window.starts_at <= merged[-1].ends_at:
            last = merged[-1]
            merged[-1] = CoverageWindow(last.starts_at, max(last.ends_at, window.ends_at))
        else:
            merged.append(window)
    return merged


def coverage_at(windows: Iterable[CoverageWindow], at: datetime) -> CoverageWindow | None:
    """The merged window that covers `at`, or None."""
    return next((w for w in merge_windows(windows) if w.covers(at)), None)


def remaining(windows: Iterable[CoverageWindow], at: datetime) -> timedelta:
    """How much covered time is left from `at` on, counting tickets that follow seamlessly."""
    window = coverage_at(windows, at)
    return window.ends_at - at if window else timedelta(0)


def next_ticket_start(windows: Iterable[CoverageWindow], at: datetime) -> datetime:
    """A new ticket starts at `at`, or when the coverage not yet ended at `at` ends.

    Also a window that begins after `at` counts (a purchase whose clock read `at` may be
    issued after another one that started a moment later), so tickets never overlap.
    """
    return max([at, *(w.ends_at for w in windows if w.ends_at > at)])


def last_coverage_end(windows: Iterable[CoverageWindow], at: datetime) -> datetime | None:
    """When the most recent coverage before `at` ended, or None if there never was any."""
    ends = [w.ends_at for w in windows if w.ends_at <= at]
    return max(ends) if ends else None


def check_access(
    workshop_id: str, service: Service, windows: Iterable[CoverageWindow], at: datetime
) -> Coverage:
    """Allow when a ticket of `service` covers `at`; otherwise say why and where to buy one."""
    known = list(windows)
    window = coverage_at(known, at)
    if window is not None:
        return Coverage(service, window, window.ends_at - at)
    ended_at = last_coverage_end(known, at)
    if ended_at is not None:
        raise AccessExpired(
            f"access to {service.value} ended at {ended_at.isoformat()}; buy a ticket to continue",
            service=service.value,
            ended_at=ended_at.isoformat(),
            purchase=purchase_route(workshop_id),
        )
    raise NoAccess(
        f"the workshop has no ticket for {service.value}; buy one to use it",
        service=service.value,
        purchase=purchase_route(workshop_id),
    )


def expiry_notice_at(ends_at: datetime, last_period: TicketPeriod) -> datetime:
    """When to tell the workshop that coverage ending at `ends_at` runs out.

    The lead time follows the period of the ticket that ends the coverage.
    """
    return ends_at - EXPIRY_NOTICE_LEAD[last_period]
