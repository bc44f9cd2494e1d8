"""The accounts' records, shared by their repositories: what the methods answer, and the
steps taken inside a transaction (new accounts, sessions, one-time tokens, passwords, the
second factor). `db.accounts.AccountRepository` is the one repository callers use.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeAlias, cast

from sqlalchemy import ColumnElement, CursorResult, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import AuthSession, OneTimeToken, PendingSignIn, RecoveryCode, User
from domain.accounts import (
    SESSION_LIFETIME,
    Role,
    TokenInvalid,
    TotpCodeUsed,
    check_password_policy,
)
from domain.languages import DEFAULT_LANGUAGE, Language
from security.credentials import hash_password, hash_token, new_token, totp_step

SessionFactory: TypeAlias = async_sessionmaker[AsyncSession]
# The tokens a person uses once: marked used, never deleted on use.
SingleUseTokenRow: TypeAlias = type[OneTimeToken] | type[PendingSignIn]


# --- what the methods answer --------------------------------------------------------------------


class SessionRefusal(StrEnum):
    """Why a bearer token opens no session."""

    ENDED = "ended"  # unknown, expired or logged out
    IP_CHANGED = "ip-changed"  # used from another address than it started from: ended just now


@dataclass(frozen=True)
class LiveSession:
    """A bearer token's live session and the account it belongs to."""

    session: AuthSession
    user: User


@dataclass(frozen=True)
class IssuedSession:
    """A new sign-in session; the token itself is never stored, only its hash."""

    token: str
    expires_at: datetime
    recovery_codes: list[str] | None = None


@dataclass(frozen=True)
class TotpEnrolment:
    """The first sign-in's answer: enrol this secret in an authenticator app, then confirm."""

    enrolment_token: str
    provisioning_uri: str
    secret: str


@dataclass(frozen=True)
class PendingSecondFactor:
    """The console's password step went through: the sign-in waits for the TOTP code. The
    browser gets `token`; only its hash is stored, with the account, not the password."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class PasswordChecked:
    """A sign-in's first part, done: whose account, and whether the password was right."""

    account_key: str  # the email address as typed, lowercased (the throttle's key)
    attempt: int  # its failure record: deleted when the attempt turns out no failure
    user_id: str
    totp_enrolled: bool
    password_ok: bool


@dataclass(frozen=True)
class IssuedToken:
    """A single-use token handed to the account's holder (by mail)."""

    user_id: str
    email: str
    token: str
    expires_at: datetime
    language: Language = DEFAULT_LANGUAGE  # the holder's, which the mail is written in


@dataclass(frozen=True)
class NewWorkshop:
    """An approved registration's workshop, and the activation token for its owner."""

    workshop_id: str
    name: str
    owner_email: str
    invitation_token: str
    owner_language: Language = DEFAULT_LANGUAGE


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_user(
    email: str,
    name: str,
    role: Role,
    workshop_id: str | None,
    password_hash: str | None,
    at: datetime,
    language: Language = DEFAULT_LANGUAGE,
) -> User:
    """A new account; without a password hash its owner sets one through an invitation."""
    return User(
        id=f"user-{uuid.uuid4().hex[:12]}",
        email=email,
        name=name,
        role=role.value,
        workshop_id=workshop_id,
        password_hash=password_hash,
        totp_enrolled=False,
        language=language.value,
        created_at=at,
    )


ONE_TIME_TOKEN_REFUSED = "the token is wrong, expired or already used"
PENDING_SIGN_IN_ENDED = (
    "the sign-in is unknown, expired or completed; start again with the password"
)


async def use_totp_code(session: AsyncSession, user: User, code: str, field: str) -> bool:
    """Whether `code` is the account's TOTP code now; if so its time step is recorded, and a
    code of that step or an earlier one is refused from then on with `totp-code-used`.

    One conditional UPDATE checks and records: of two concurrent sign-ins with one code the
    second changes no row (PostgreSQL re-checks the WHERE once the first commits; SQLite runs
    writing transactions one at a time), so a code seen over a shoulder is worth nothing.
    """
    step = totp_step(user.totp_secret, code) if user.totp_secret else None
    if step is None:
        return False
    recorded = await session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", recorded).rowcount != 1:
        raise TotpCodeUsed("this code was used already; wait for the next one", field=field)
    return True


class AccountStore:
    """What the account repositories share: the session factory, the clock, and the steps
    they take inside a transaction (sessions, one-time tokens, passwords, second factors)."""

    def __init__(
        self, session_factory: SessionFactory, clock: Callable[[], datetime] = utc_now
    ) -> None:
        # `clock` is what the sign-in throttle and the pending sign-ins call "now"; tests move
        # it past a window.
        self._session_factory = session_factory
        self._clock = clock

    # --- inside a transaction -------------------------------------------------------------------

    @staticmethod
    def _add_user_token(
        session: AsyncSession,
        row_type: Callable[..., object],
        user_id: str,
        now: datetime,
        lifetime: timedelta,
        **columns: str,
    ) -> tuple[str, datetime]:
        """A new random token for `user_id`, stored as a `row_type` row (a session, a one-time
        token, a pending sign-in) of its hash only, valid for `lifetime` from `now`, with the
        row's own `columns`: the token, to hand out once, and when it expires."""
        token, expires_at = new_token(), now + lifetime
        session.add(
            row_type(
                token_hash=hash_token(token),
                user_id=user_id,
                created_at=now,
                expires_at=expires_at,
                **columns,
            )
        )
        return token, expires_at

    @classmethod
    def add_session(cls, session: AsyncSession, user_id: str, client_ip: str) -> IssuedSession:
        """The session a completed sign-in issues, bound to `client_ip` (in the caller's
        transaction); the tests' sign-in writes the same one, so it follows the same rules."""
        token, expires_at = cls._add_user_token(
            session, AuthSession, user_id, utc_now(), SESSION_LIFETIME, client_ip=client_ip
        )
        return IssuedSession(token=token, expires_at=expires_at)

    @classmethod
    def _add_one_time_token(
        cls, session: AsyncSession, user_id: str, purpose: str, lifetime: timedelta
    ) -> tuple[str, datetime]:
        return cls._add_user_token(
            session, OneTimeToken, user_id, utc_now(), lifetime, purpose=purpose
        )

    # --- single-use tokens (one-time tokens here, pending sign-ins in `db.sign_in`) -----------

    @staticmethod
    async def _use_up(
        session: AsyncSession,
        row_type: SingleUseTokenRow,
        usable: Sequence[ColumnElement[bool]],
        now: datetime,
        refused: TokenInvalid,
    ) -> User:
        """Marks the token row that is `usable` used and returns its user; `refused` when there
        is none (a wrong, expired or used token)."""
        # The UPDATE ... WHERE used_at IS NULL makes redemption single-use under concurrency too.
        user_id = await session.scalar(
            update(row_type).where(*usable).values(used_at=now).returning(row_type.user_id)
        )
        user = await session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise refused
        return user

    async def _holder(
        self,
        row_type: SingleUseTokenRow,
        usable: Sequence[ColumnElement[bool]],
        refused: TokenInvalid,
    ) -> User:
        """The user of the token row that is `usable`, without using the token up; `refused`
        when there is none."""
        async with reading(self._session_factory) as session:
            user = await session.scalar(
                select(User).join(row_type, row_type.user_id == User.id).where(*usable)
            )
        if user is None:
            raise refused
        return user

    @staticmethod
    def _one_time_usable(
        token: str, purpose: str, now: datetime
    ) -> tuple[ColumnElement[bool], ...]:
        return (
            OneTimeToken.token_hash == hash_token(token),
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )

    @classmethod
    async def _redeem(cls, session: AsyncSession, token: str, purpose: str) -> User:
        """Marks a one-time token used and returns its user; wrong, expired or used ones fail."""
        now = utc_now()
        usable = cls._one_time_usable(token, purpose, now)
        refused = TokenInvalid(ONE_TIME_TOKEN_REFUSED, field="token")
        return await cls._use_up(session, OneTimeToken, usable, now, refused)

    async def _token_holder(self, token: str, purpose: str) -> User:
        """The user of a live one-time token, without using the token up."""
        usable = self._one_time_usable(token, purpose, utc_now())
        refused = TokenInvalid(ONE_TIME_TOKEN_REFUSED, field="token")
        return await self._holder(OneTimeToken, usable, refused)

    async def _set_password_with_token(
        self, token: str, purpose: str, password: str, end_sessions_reason: str | None
    ) -> None:
        # The policy is checked and the password hashed before the token is used up: a refused
        # password leaves the token usable, and no transaction waits on the hash.
        user = await self._token_holder(token, purpose)
        check_password_policy(password, user.email)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._session_factory() as session, session.begin():
            user = await self._redeem(session, token, purpose)  # single-use, also when raced
            await self._store_password(session, user.id, password_hash, end_sessions_reason)

    @staticmethod
    async def _store_password(
        session: AsyncSession, user_id: str, password_hash: str, end_sessions_reason: str | None
    ) -> None:
        await session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )
        # A pending sign-in proved the old password: it cannot finish with the new one set.
        await session.execute(delete(PendingSignIn).where(PendingSignIn.user_id == user_id))
        if end_sessions_reason:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
                .values(ended_at=utc_now(), end_reason=end_sessions_reason)
            )

    @staticmethod
    async def _second_factor_ok(
        session: AsyncSession, user: User, totp_code: str | None, recovery_code: str | None
    ) -> bool:
        if totp_code:
            return await use_totp_code(session, user, totp_code, field="totp_code")
        if recovery_code:
            used = await session.scalar(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == hash_token(recovery_code.strip().lower()),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=utc_now())
                .returning(RecoveryCode.id)
            )
            return used is not None
        return False

    @staticmethod
    async def _email_taken(session: AsyncSession, email: str) -> bool:
        return await session.scalar(select(User.id).where(User.email == email)) is not None
