"""Accounts: roles, password policy, lock-out and session rules (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError, Unauthenticated

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
PASSWORD_RESET_LIFETIME = timedelta(hours=1)
INVITATION_LIFETIME = timedelta(days=7)
ENROLMENT_LIFETIME = timedelta(minutes=10)
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


def locked_until_after_failure(failed_logins: int, now: datetime) -> datetime | None:
    """After the 5th failure in a row the account locks for 15 minutes."""
    return now + LOCKOUT if failed_logins >= MAX_FAILED_LOGINS else None


class InvalidCredentials(Unauthenticated):
    code = "invalid-credentials"
    title = "Email, password or second factor is wrong"


class TotpRequired(Unauthenticated):
    code = "totp-required"
    title = "The second factor is required"


class AccountLocked(DomainError):
    code = "account-locked"
    title = "The account is locked for a while"
    kind = "locked"


class TokenInvalid(DomainError):
    code = "token-invalid"
    title = "The token is wrong, expired or already used"
