"""Workshops, their people, and everything that proves who a person is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class Workshop(Base):
    __tablename__ = "workshops"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_form: Mapped[str] = mapped_column(String(100))
    vat_id: Mapped[str] = mapped_column(String(20), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(String(500))
    legal_representative: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    registration_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    workshop_id: Mapped[str | None] = mapped_column(ForeignKey("workshops.id"), index=True)
    # None until the person sets one (owners and invited technicians set it themselves).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled: Mapped[bool] = mapped_column(default=False)
    # The newest TOTP time step (Unix time // 30) a code was accepted for: that step and every
    # earlier one are refused from then on, so a code works once (RFC 6238, 5.2).
    totp_last_step: Mapped[int | None]
    # The language the person reads (`domain.languages.Language`): their mail is written in it.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    created_at: Mapped[datetime]


class _UserTokenColumns:
    """A random token handed to a person (a session, a mailed link, a pending sign-in): only
    its hash is stored, with the account it stands for and when it was handed out."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]


class AuthSession(_UserTokenColumns, Base):
    """A logged-in session: only the token's hash is stored, bound to the IP that logged in."""

    __tablename__ = "auth_sessions"

    client_ip: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(64))


class OneTimeToken(_UserTokenColumns, Base):
    """Single-use tokens mailed or handed out: password reset, invitation, TOTP enrolment."""

    __tablename__ = "one_time_tokens"

    purpose: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PendingSignIn(_UserTokenColumns, Base):
    """The console's sign-in between the right password and the TOTP code: the browser holds
    only a random token (its hash is stored here), so the password never leaves the server.
    Valid from the address that gave the password, until `expires_at`, for one session."""

    __tablename__ = "pending_sign_ins"

    client_ip: Mapped[str] = mapped_column(String(64))
    # Indexed: expired rows are purged by it.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class SignInFailureRecord(Base):
    """One failed sign-in, the input of `domain.accounts.sign_in_hold`. Keyed by the email
    address as typed (lowercased), not the user: an unknown address is throttled exactly like
    a known one, so a 429 does not tell whether an account exists."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(320), index=True)
    source: Mapped[str] = mapped_column(String(64))
    # Indexed: rows older than the window are purged by it.
    failed_at: Mapped[datetime] = mapped_column(index=True)
