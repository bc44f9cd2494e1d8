"""Accounts: roles, password policy, sign-in throttling and session rules (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from domain.errors import DomainError, Unauthenticated

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
SESSION_LIFETIME = timedelta(hours=8)
PASSWORD_RESET_LIFETIME = timedelta(hours=1)
INVITATION_LIFETIME = timedelta(days=7)
ENROLMENT_LIFETIME = timedelta(minutes=10)
# The console's step between the password and the TOTP code (`db.models.PendingSignIn`).
PENDING_SIGN_IN_LIFETIME = timedelta(minutes=5)
RECOVERY_CODE_COUNT = 10


class Role(StrEnum):
    ADMINISTRATOR = "administrator"  # portal staff
    WORKSHOP_OWNER = "workshop_owner"
    TECHNICIAN = "technician"


class WeakPassword(DomainError):
    code = "weak-password"
    title = "The password does not meet the policy"


def check_password_policy(password: str, email: str) -> None:
    """At least 12 characters and not the email address (nor its local part)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"the password must have at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )
    lowered = password.strip().lower()
    if lowered in (email.strip().lower(), email.strip().lower().split("@")[0]):
        raise WeakPassword("the password must not be the email address", field="password")


# --- sign-in throttling ---------------------------------------------------------------------
#
# There is no hard lock: one that anybody who knows an email address can trigger locks the
# owner out. Failed sign-ins count per account and per source address instead:
# - one source gets `SOURCE_FAILURE_LIMIT` failures on one account per `FAILURE_WINDOW`, then
#   waits until the oldest of them leaves the window; other sources are not affected;
# - once the account has `ACCOUNT_SLOWDOWN_AFTER` failures in the window (from any sources), a
#   source that failed on it itself waits after its own latest failure, twice as long for each
#   further failure of the account, at most `ACCOUNT_MAX_DELAY`. A source without failures of
#   its own is never held by the account's count: the owner, at their own address, with the
#   right password and second factor, always gets through.

SOURCE_FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
ACCOUNT_SLOWDOWN_AFTER = 10
ACCOUNT_FIRST_DELAY = timedelta(seconds=1)
ACCOUNT_MAX_DELAY = timedelta(minutes=1)


@dataclass(frozen=True)
class SignInFailure:
    """One failed sign-in (wrong password or second factor) on an account, from `source`."""

    source: str
    at: datetime


@dataclass(frozen=True)
class SignInHold:
    """`source` may try this account again at `until`; `scope` says which count held it."""

    until: datetime
    scope: Literal["source", "account"]  # its own failures, or the account's from all sources

    def retry_after_seconds(self, now: datetime) -> int:
        """Whole seconds until `until`, at least 1 (the value of a Retry-After header)."""
        return max(1, math.ceil((self.until - now).total_seconds()))


def sign_in_hold(
    failures: Sequence[SignInFailure], source: str, now: datetime
) -> SignInHold | None:
    """Whether `source` must wait before its next sign-in on an account with these
    `failures`, and until when; None: it may try now. Deterministic in its arguments."""
    # No upper bound: a concurrent attempt that read the clock a moment later may have been
    # recorded first, and it counts all the same.
    recent = sorted((f for f in failures if now - FAILURE_WINDOW < f.at), key=lambda f: f.at)
    own = [f.at for f in recent if f.source == source]
    if len(own) >= SOURCE_FAILURE_LIMIT:
        # Free again when enough of its failures have left the window to allow one more.
        return SignInHold(until=own[-SOURCE_FAILURE_LIMIT] + FAILURE_WINDOW, scope="source")
    if own and len(recent) >= ACCOUNT_SLOWDOWN_AFTER:
        beyond = len(recent) - ACCOUNT_SLOWDOWN_AFTER
        delay = min(ACCOUNT_FIRST_DELAY * 2 ** min(beyond, 16), ACCOUNT_MAX_DELAY)
        if own[-1] + delay > now:
            return SignInHold(until=own[-1] + delay, scope="account")
    return None


class InvalidCredentials(Unauthenticated):
    code = "invalid-credentials"
    title = "Email, password or second factor is wrong"


class TotpRequired(Unauthenticated):
    code = "totp-required"
    title = "The second factor is required"


class TotpCodeUsed(Unauthenticated):
    """The code is right but was accepted before: each code works once (RFC 6238, 5.2), so
    whoever saw it typed cannot sign in with it."""

    code = "totp-code-used"
    title = "This TOTP code was used already; wait for the next one"


class TooManyAttempts(DomainError):
    """A source failed too often on an account: it waits (`retry_after` seconds); others
    do not."""

    code = "too-many-attempts"
    title = "Too many failed sign-ins from this address; wait before trying again"
    kind = "too_many_requests"


class TokenInvalid(DomainError):
    code = "token-invalid"
    title = "The token is wrong, expired or already used"
