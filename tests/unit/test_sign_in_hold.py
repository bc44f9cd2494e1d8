"""The sign-in throttle's rule (domain.accounts.sign_in_hold), at its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.accounts import (
    ACCOUNT_MAX_DELAY,
    ACCOUNT_SLOWDOWN_AFTER,
    FAILURE_WINDOW,
    SOURCE_FAILURE_LIMIT,
    SignInFailure,
    sign_in_hold,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _failures(source: str, count: int, last: datetime, step: timedelta) -> list[SignInFailure]:
    return [SignInFailure(source, last - step * i) for i in range(count)]


def test_a_source_is_held_at_the_limit_until_its_oldest_counted_failure_leaves_the_window() -> None:
    step = timedelta(minutes=1)
    below = _failures("a", SOURCE_FAILURE_LIMIT - 1, NOW, step)
    assert sign_in_hold(below, "a", NOW) is None
    at_limit = _failures("a", SOURCE_FAILURE_LIMIT, NOW, step)
    hold = sign_in_hold(at_limit, "a", NOW)
    oldest = NOW - step * (SOURCE_FAILURE_LIMIT - 1)
    assert hold is not None and (hold.until, hold.scope) == (oldest + FAILURE_WINDOW, "source")
    assert sign_in_hold(at_limit, "a", hold.until) is None
    assert sign_in_hold(at_limit, "b", NOW) is None  # another source is not held


def test_an_attacked_account_slows_down_failing_sources_only_and_never_for_long() -> None:
    attackers = [
        failure
        for n in range(40)
        for failure in _failures(f"bot-{n}", 1, NOW - timedelta(seconds=n), timedelta())
    ]
    assert len(attackers) > ACCOUNT_SLOWDOWN_AFTER
    assert sign_in_hold(attackers, "owner", NOW) is None  # no failure of its own: never held
    once = [*attackers, SignInFailure("owner", NOW)]
    hold = sign_in_hold(once, "owner", NOW)
    assert hold is not None and hold.scope == "account"
    assert hold.until == NOW + ACCOUNT_MAX_DELAY  # doubled up to the cap, no further
    assert sign_in_hold(once, "owner", NOW + ACCOUNT_MAX_DELAY) is None


def test_failures_outside_the_window_do_not_count() -> None:
    old = _failures("a", 50, NOW - FAILURE_WINDOW, timedelta(seconds=1))
    assert sign_in_hold(old, "a", NOW) is None
