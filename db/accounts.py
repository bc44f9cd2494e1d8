"""The accounts aggregate: workshops, their people, sign-in sessions, single-use tokens,
recovery codes, and the registrations that create workshops.

The API (sign-in, passwords, invitations, registrations) and the registration activities
share this one implementation. Each method is one short transaction of its own. Password
hashing (argon2, ~0.2 s of CPU) runs in a thread, off the event loop where it would stall every
other request, and outside any transaction, where it would hold SQLite's write lock meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeAlias, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import (
    AuthSession,
    OneTimeToken,
    PendingSignIn,
    RecoveryCode,
    Registration,
    SignInFailureRecord,
    User,
    Workshop,
)
from domain.accounts import (
    ENROLMENT_LIFETIME,
    FAILURE_WINDOW,
    INVITATION_LIFETIME,
    PASSWORD_RESET_LIFETIME,
    PENDING_SIGN_IN_LIFETIME,
    RECOVERY_CODE_COUNT,
    SESSION_LIFETIME,
    InvalidCredentials,
    Role,
    SignInFailure,
    SignInHold,
    TokenInvalid,
    TooManyAttempts,
    TotpCodeUsed,
    TotpRequired,
    check_password_policy,
    sign_in_hold,
)
from domain.errors import Conflict, NotFound
from domain.registration import OPEN_STATES, Application, ApplicationAlreadyOpen
from security.credentials import (
    burn_password_check,
    hash_password,
    hash_token,
    new_recovery_code,
    new_token,
    new_totp_secret,
    totp_provisioning_uri,
    totp_step,
    verify_password,
)

SessionFactory: TypeAlias = async_sessionmaker[AsyncSession]


# --- refusals -----------------------------------------------------------------------------------


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
class _PasswordChecked:
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


@dataclass(frozen=True)
class NewWorkshop:
    """An approved registration's workshop, and the activation token for its owner."""

    workshop_id: str
    name: str
    owner_email: str
    invitation_token: str


def _now() -> datetime:
    return datetime.now(UTC)


def _new_user(
    email: str,
    name: str,
    role: Role,
    workshop_id: str | None,
    password_hash: str | None,
    at: datetime,
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
        created_at=at,
    )


PENDING_SIGN_IN_ENDED = (
    "the sign-in is unknown, expired or completed; start again with the password"
)


async def _use_totp_code(session: AsyncSession, user: User, code: str, field: str) -> bool:
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
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", recorded).rowcount != 1:
        raise TotpCodeUsed("this code was used already; wait for the next one", field=field)
    return True


# The session of a token and its account, read on every request (built once: see
# `db.service_history.VEHICLE_FACTS`).
SIGNED_IN = (
    select(AuthSession, User)
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)


class AccountRepository:
    def __init__(
        self, session_factory: SessionFactory, clock: Callable[[], datetime] = _now
    ) -> None:
        # `clock` is what the sign-in throttle and the pending sign-ins call "now"; tests move
        # it past a window.
        self._session_factory = session_factory
        self._clock = clock

    # --- sessions -------------------------------------------------------------------------------

    async def live_session(self, token: str, client_ip: str) -> AuthSession | SessionRefusal:
        """The session of a bearer token used from `client_ip`, or why there is none (the
        rules of `signed_in`)."""
        found = await self.signed_in(token, client_ip)
        return found if isinstance(found, SessionRefusal) else found.session

    async def signed_in(self, token: str, client_ip: str) -> LiveSession | SessionRefusal:
        """The session of a bearer token used from `client_ip` and its account, read together
        (both detached), or why there is none.

        The portal's rule: the IP must not change during a session. A token used from another
        address ends its session here, so it stops working from the first address too.
        """
        # Every request passes here: one read that never waits for a writer. Only the rare
        # IP change writes, in a transaction of its own.
        async with reading(self._session_factory) as session:
            found = (await session.execute(SIGNED_IN, {"token_hash": hash_token(token)})).first()
        if found is None:
            return SessionRefusal.ENDED
        auth, user = found
        if auth.ended_at is not None or auth.expires_at <= _now():
            return SessionRefusal.ENDED
        if auth.client_ip != client_ip:
            await self.end_session(auth.id, "ip-changed")
            return SessionRefusal.IP_CHANGED
        return LiveSession(auth, user)

    async def end_session(self, session_id: int, reason: str) -> None:
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id)
                .values(ended_at=_now(), end_reason=reason)
            )

    async def user(self, user_id: str) -> User | None:
        """The account, detached: a change goes through a method of this repository."""
        async with reading(self._session_factory) as session:
            return await session.get(User, user_id)

    async def profile(self, user_id: str) -> Row[str, str, str, str, str | None, str | None] | None:
        """The account and its workshop's name: `id`, `email`, `name`, `role`, `workshop_id`,
        `workshop_name` (None without a workshop)."""
        # Outer-joined: an administrator's row has no workshop, so its name may be NULL.
        workshop_name = cast("ColumnElement[str | None]", Workshop.name)
        async with reading(self._session_factory) as session:
            rows = await session.execute(
                select(
                    User.id,
                    User.email,
                    User.name,
                    User.role,
                    User.workshop_id,
                    workshop_name.label("workshop_name"),
                )
                .outerjoin(Workshop, Workshop.id == User.workshop_id)
                .where(User.id == user_id)
            )
            return rows.first()

    # --- signing in -----------------------------------------------------------------------------

    async def sign_in(
        self,
        email: str,
        password: str,
        totp_code: str | None,
        recovery_code: str | None,
        client_ip: str,
    ) -> IssuedSession | TotpEnrolment:
        """A session bound to `client_ip`, or, before the TOTP app is enrolled, the enrolment.

        Refusals: `too-many-attempts` (with `retry_after`) while `domain.accounts.sign_in_hold`
        holds this source for this email address, `invalid-credentials` (an unknown email costs
        the same password check as a wrong password, so timing does not tell them apart),
        `totp-required` when the right password comes without a second factor,
        `totp-code-used` when its code was accepted before. Each failure is recorded for the
        address and source; a success clears the source's failures.
        """
        checked = await self._check_password(email, password, client_ip)
        if checked.password_ok and checked.totp_enrolled and not (totp_code or recovery_code):
            await self._forget_attempt(checked.attempt)  # the password was right: not a failure
            raise TotpRequired(
                "send totp_code (or a recovery_code) with the password", field="totp_code"
            )
        return await self._finish_sign_in(checked, totp_code, recovery_code, client_ip)

    async def start_sign_in(
        self, email: str, password: str, client_ip: str
    ) -> PendingSecondFactor | TotpEnrolment:
        """The console's first step, the password alone: for an enrolled account a pending
        sign-in that `finish_sign_in` completes with the code, before enrolment the enrolment.

        The pending sign-in is kept here, so the browser holds a random token and never the
        password between the two steps. Refusals and throttling as `sign_in`'s.
        """
        checked = await self._check_password(email, password, client_ip)
        if not (checked.password_ok and checked.totp_enrolled):
            outcome = await self._finish_sign_in(checked, None, None, client_ip)
            if isinstance(outcome, TotpEnrolment):
                return outcome
            # Not reached: without a second factor an enrolled account gets no session.
            raise InvalidCredentials("email or password is wrong")
        await self._forget_attempt(checked.attempt)  # the password was right: not a failure
        token, now = new_token(), self._clock()
        expires_at = now + PENDING_SIGN_IN_LIFETIME
        async with self._session_factory() as session, session.begin():
            await session.execute(delete(PendingSignIn).where(PendingSignIn.expires_at <= now))
            session.add(
                PendingSignIn(
                    token_hash=hash_token(token),
                    user_id=checked.user_id,
                    client_ip=client_ip,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return PendingSecondFactor(token=token, expires_at=expires_at)

    async def pending_sign_in_live(self, token: str, client_ip: str) -> bool:
        """Whether `finish_sign_in` would take this pending sign-in from `client_ip` now."""
        try:
            await self._pending_holder(token, client_ip)
        except TokenInvalid:
            return False
        return True

    async def finish_sign_in(
        self, token: str, totp_code: str | None, recovery_code: str | None, client_ip: str
    ) -> IssuedSession:
        """The console's second step: the TOTP code (or a recovery code) of a pending sign-in
        of `start_sign_in`, from the address that gave the password; the session.

        `token-invalid` when the pending sign-in is unknown, expired, from another address or
        completed already: each gives one session. A wrong code counts as a failed sign-in
        of the account from `client_ip` (the throttle of `sign_in`) and leaves the pending
        sign-in usable for another try until it expires; `totp-code-used` as in `sign_in`.
        """
        holder = await self._pending_holder(token, client_ip)
        # Committed on its own: it stays a failure when the code is wrong.
        await self._start_attempt(holder.email, client_ip)
        async with self._session_factory() as session, session.begin():
            user = await self._redeem_pending(session, token, client_ip)
            if not await self._second_factor_ok(session, user, totp_code, recovery_code):
                # Raised inside the transaction: it rolls the redemption back.
                raise InvalidCredentials(
                    "the second factor is wrong",
                    field="totp_code" if totp_code else "recovery_code",
                )
            await self._clear_failures(session, holder.email, client_ip)
            return self._add_session(session, user.id, client_ip)

    async def confirm_totp(self, enrolment_token: str, code: str, client_ip: str) -> IssuedSession:
        """Finish TOTP enrolment: a session and the recovery codes (shown once).

        A wrong code leaves the enrolment token usable for another try, and counts as a failed
        sign-in of the account from `client_ip` (the same throttle as `sign_in`: six digits
        must not be guessable within the token's lifetime). A code accepted before (by another
        enrolment token of the same secret) is `totp-code-used`.
        """
        holder = await self._token_holder(enrolment_token, "totp-enrolment")
        # Committed on its own: it stays a failure when the code is wrong.
        await self._start_attempt(holder.email, client_ip)
        async with self._session_factory() as session, session.begin():
            user = await self._redeem(session, enrolment_token, "totp-enrolment")
            if not await _use_totp_code(session, user, code, field="code"):
                # Raised inside the transaction: it rolls the token's redemption back.
                raise InvalidCredentials("the TOTP code is wrong", field="code")
            user.totp_enrolled = True
            codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
            session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_token(c)) for c in codes)
            await self._clear_failures(session, holder.email, client_ip)
            issued = self._add_session(session, user.id, client_ip)
        return replace(issued, recovery_codes=codes)

    async def _check_password(self, email: str, password: str, client_ip: str) -> _PasswordChecked:
        """The first part of every sign-in: the throttle (the attempt is recorded as a failure
        until it turns out none), the account, the password. An unknown email costs the same
        password check as a wrong password and is `invalid-credentials`."""
        account_key = email.strip().lower()
        attempt = await self._start_attempt(account_key, client_ip)
        async with reading(self._session_factory) as session:
            user = await session.scalar(select(User).where(User.email == account_key))
        if user is None or user.password_hash is None:
            await asyncio.to_thread(burn_password_check, password)
            raise InvalidCredentials("email or password is wrong")
        # Outside any transaction: no lock is held while argon2 works.
        password_ok = await asyncio.to_thread(verify_password, user.password_hash, password)
        return _PasswordChecked(account_key, attempt, user.id, user.totp_enrolled, password_ok)

    async def _finish_sign_in(
        self,
        checked: _PasswordChecked,
        totp_code: str | None,
        recovery_code: str | None,
        client_ip: str,
    ) -> IssuedSession | TotpEnrolment:
        outcome: IssuedSession | TotpEnrolment | None = None
        async with self._session_factory() as session, session.begin():
            user = await session.get(User, checked.user_id)
            if user is None:
                raise InvalidCredentials("email or password is wrong")
            if checked.password_ok and (
                not user.totp_enrolled
                or await self._second_factor_ok(session, user, totp_code, recovery_code)
            ):
                await self._clear_failures(session, checked.account_key, client_ip)
                if not user.totp_enrolled:
                    user.totp_secret = user.totp_secret or new_totp_secret()
                    token, _ = self._add_one_time_token(
                        session, user.id, "totp-enrolment", ENROLMENT_LIFETIME
                    )
                    outcome = TotpEnrolment(
                        enrolment_token=token,
                        provisioning_uri=totp_provisioning_uri(user.totp_secret, user.email),
                        secret=user.totp_secret,
                    )
                else:
                    outcome = self._add_session(session, user.id, client_ip)
        if outcome is None:  # the attempt stays recorded as a failure
            raise InvalidCredentials("email, password or second factor is wrong")
        return outcome

    async def _pending_holder(self, token: str, client_ip: str) -> User:
        """The account of a live pending sign-in started from `client_ip`, without using it."""
        async with reading(self._session_factory) as session:
            user = await session.scalar(
                select(User)
                .join(PendingSignIn, PendingSignIn.user_id == User.id)
                .where(*self._pending_usable(token, client_ip))
            )
        if user is None:
            raise TokenInvalid(PENDING_SIGN_IN_ENDED, field="token")
        return user

    async def _redeem_pending(self, session: AsyncSession, token: str, client_ip: str) -> User:
        """Marks a pending sign-in used and returns its account; refused as `_pending_holder`."""
        # The UPDATE ... WHERE used_at IS NULL makes it single-use under concurrency too.
        user_id = await session.scalar(
            update(PendingSignIn)
            .where(*self._pending_usable(token, client_ip))
            .values(used_at=self._clock())
            .returning(PendingSignIn.user_id)
        )
        user = await session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise TokenInvalid(PENDING_SIGN_IN_ENDED, field="token")
        return user

    def _pending_usable(self, token: str, client_ip: str) -> tuple[ColumnElement[bool], ...]:
        return (
            PendingSignIn.token_hash == hash_token(token),
            PendingSignIn.client_ip == client_ip,
            PendingSignIn.used_at.is_(None),
            PendingSignIn.expires_at > self._clock(),
        )

    # --- sign-in throttling ---------------------------------------------------------------------

    async def sign_in_hold(self, email: str, client_ip: str) -> SignInHold | None:
        """Whether `client_ip` must wait before signing in as `email` (`domain.accounts`), and
        until when; None: it may try now. Reads only."""
        account_key = email.strip().lower()
        async with reading(self._session_factory) as session:
            failures = await self._recent_failures(session, account_key, self._clock())
        return sign_in_hold(failures, client_ip, self._clock())

    async def _start_attempt(self, account_key: str, client_ip: str) -> int:
        """Refuses a held source with `too-many-attempts`; otherwise records the attempt as a
        failure right away and answers its row id, which a success deletes.

        Recorded before the password check, so that concurrent attempts of one source see
        each other: checked after, all of them would pass the same count.
        """
        now = self._clock()
        async with self._session_factory() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                # Count and record one account's attempts one at a time (SQLite's write
                # transactions are serialized anyway); under READ COMMITTED concurrent
                # attempts would each count without the others and all pass.
                await session.execute(
                    select(func.pg_advisory_xact_lock(func.hashtext(account_key)))
                )
            await session.execute(
                delete(SignInFailureRecord).where(
                    SignInFailureRecord.failed_at <= now - FAILURE_WINDOW
                )
            )
            failures = await self._recent_failures(session, account_key, now)
            hold = sign_in_hold(failures, client_ip, now)
            if hold is not None:
                seconds = hold.retry_after_seconds(now)
                raise TooManyAttempts(
                    f"too many failed sign-ins for this account from {client_ip}; try again in "
                    f"{seconds} s (other addresses are not affected)",
                    retry_after=seconds,
                    retry_at=hold.until.isoformat(),
                )
            record = SignInFailureRecord(account_key=account_key, source=client_ip, failed_at=now)
            session.add(record)
            await session.flush()
            return record.id

    async def _forget_attempt(self, attempt: int) -> None:
        async with self._session_factory() as session, session.begin():
            await session.execute(
                delete(SignInFailureRecord).where(SignInFailureRecord.id == attempt)
            )

    @staticmethod
    async def _clear_failures(session: AsyncSession, account_key: str, client_ip: str) -> None:
        await session.execute(
            delete(SignInFailureRecord).where(
                SignInFailureRecord.account_key == account_key,
                SignInFailureRecord.source == client_ip,
            )
        )

    @staticmethod
    async def _recent_failures(
        session: AsyncSession, account_key: str, now: datetime
    ) -> list[SignInFailure]:
        rows = await session.execute(
            select(SignInFailureRecord.source, SignInFailureRecord.failed_at).where(
                SignInFailureRecord.account_key == account_key,
                SignInFailureRecord.failed_at > now - FAILURE_WINDOW,
            )
        )
        return [SignInFailure(source=source, at=at) for source, at in rows]

    # --- passwords and invitations --------------------------------------------------------------

    async def request_password_reset(self, email: str) -> IssuedToken | None:
        """A password-reset token for the account with this email; None when there is none."""
        async with self._session_factory() as session, session.begin():
            user = await session.scalar(select(User).where(User.email == email.lower()))
            if user is None:
                return None
            token, expires_at = self._add_one_time_token(
                session, user.id, "password-reset", PASSWORD_RESET_LIFETIME
            )
            return IssuedToken(user.id, user.email, token, expires_at)

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password with a reset token; every open session of the account ends."""
        await self._set_password_with_token(
            token, "password-reset", new_password, end_sessions_reason="password-reset"
        )

    async def accept_invitation(self, token: str, password: str) -> None:
        """Set the first password of an invited account (owners after approval, technicians)."""
        await self._set_password_with_token(token, "invitation", password, end_sessions_reason=None)

    async def change_password(
        self, user_id: str, current_password: str, totp_code: str, new_password: str
    ) -> None:
        """Change the password with the current one and a TOTP code (a code accepted before is
        `totp-code-used`); pending sign-ins of the account end."""
        async with reading(self._session_factory) as session:
            user = await session.get(User, user_id)
        if user is None:
            raise NotFound("no account with this id")
        if user.password_hash is None or not await asyncio.to_thread(
            verify_password, user.password_hash, current_password
        ):
            raise InvalidCredentials("the current password is wrong", field="current_password")
        if not user.totp_secret or totp_step(user.totp_secret, totp_code) is None:
            raise InvalidCredentials("the TOTP code is wrong", field="totp_code")
        check_password_policy(new_password, user.email)
        password_hash = await asyncio.to_thread(hash_password, new_password)
        async with self._session_factory() as session, session.begin():
            # Used up together with the change: a replayed code is refused here.
            if not await _use_totp_code(session, user, totp_code, field="totp_code"):
                raise InvalidCredentials("the TOTP code is wrong", field="totp_code")
            await self._store_password(session, user.id, password_hash, end_sessions_reason=None)

    async def invite_technician(self, workshop_id: str, email: str, name: str) -> IssuedToken:
        """A technician account of the workshop without a password, and its invitation token;
        `conflict` when an account with this email exists."""
        email = email.lower()
        async with self._session_factory() as session, session.begin():
            # An administrator may name any workshop: an unknown one is the usual 404, not a
            # foreign-key failure at the insert.
            if await session.get(Workshop, workshop_id) is None:
                raise NotFound("no workshop with this id")
            if await session.scalar(select(User.id).where(User.email == email)) is not None:
                raise Conflict("an account with this email exists", field="email")
            technician = _new_user(email, name, Role.TECHNICIAN, workshop_id, None, _now())
            session.add(technician)
            await session.flush()
            token, expires_at = self._add_one_time_token(
                session, technician.id, "invitation", INVITATION_LIFETIME
            )
        return IssuedToken(technician.id, email, token, expires_at)

    # --- administrators -------------------------------------------------------------------------

    async def ensure_administrator(self, email: str, password: str, name: str) -> bool:
        """Create the administrator unless an account with this email exists. True when created."""
        email = email.strip().lower()
        check_password_policy(password, email)
        async with reading(self._session_factory) as session:
            if await self._email_taken(session, email):
                return False
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._session_factory() as session, session.begin():
            if await self._email_taken(session, email):
                return False
            session.add(_new_user(email, name, Role.ADMINISTRATOR, None, password_hash, _now()))
        return True

    async def enrol_totp_unconfirmed(self, email: str) -> str | None:
        """Enrol a new TOTP secret without a confirming code and answer it; None when the
        account is enrolled already (its secret is then wherever its owner put it).

        Only for the embedded mode's administrator: `make dev` keeps the secret in a file that
        only its owner can read, so nobody has to catch it the one time the API shows it.
        """
        async with self._session_factory() as session, session.begin():
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
            if user is None:
                raise NotFound("no account with this email", field="email")
            if user.totp_enrolled:
                return None
            user.totp_secret, user.totp_enrolled = new_totp_secret(), True
            return user.totp_secret

    async def administrator_emails(self) -> Sequence[str]:
        async with reading(self._session_factory) as session:
            return (
                await session.scalars(
                    select(User.email).where(User.role == Role.ADMINISTRATOR.value)
                )
            ).all()

    # --- registrations --------------------------------------------------------------------------

    async def apply(self, application: Application) -> tuple[Registration, bool]:
        """The open registration of this application, and whether this call created it.

        Re-sending the identical application finds the same registration; another open
        application with the same VAT ID or contact email is `registration-already-open`.
        """
        fingerprint = application.fingerprint()
        try:
            async with self._session_factory() as session, session.begin():
                registration = await self._open_registration_for(session, application)
                created = registration is None
                if registration is None:
                    now = _now()
                    registration = Registration(
                        id=str(uuid.uuid4()),
                        state="submitted",
                        is_open=True,
                        fingerprint=fingerprint,
                        created_at=now,
                        updated_at=now,
                        **application.model_dump(),
                    )
                    session.add(registration)
        except IntegrityError:  # a concurrent identical request won the race
            async with reading(self._session_factory) as session:
                registration = await self._open_registration_for(session, application)
            if registration is None:
                raise
            created = False
        if registration.fingerprint != fingerprint:
            field = "vat_id" if registration.vat_id == application.vat_id else "contact_email"
            raise ApplicationAlreadyOpen(
                f"registration {registration.id} with this {field} is still open",
                field=field,
                open_registration_id=registration.id,
            )
        return registration, created

    async def registration_state(self, registration_id: str) -> str:
        """The registration's stored state; `not-found` when unknown."""
        async with reading(self._session_factory) as session:
            registration = await session.get(Registration, registration_id)
        if registration is None:
            raise NotFound("no registration with this id", field="registration_id")
        return registration.state

    async def registrations(
        self, state: str | None, limit: int, offset: int
    ) -> Sequence[Registration]:
        """Applications, newest first, optionally in one state."""
        query = (
            select(Registration)
            .order_by(Registration.created_at.desc())
            .limit(limit)
            .offset(offset)
        )
        if state is not None:
            query = query.where(Registration.state == state)
        async with reading(self._session_factory) as session:
            return (await session.scalars(query)).all()

    async def record_registration_state(
        self,
        registration_id: str,
        state: str,
        *,
        vat_check: str | None = None,
        decision_reason: str | None = None,
        workshop_id: str | None = None,
    ) -> None:
        """Mirror the workflow's state; a field given as None keeps its stored value."""
        values: dict[str, object] = {
            "state": state,
            "is_open": state in OPEN_STATES,
            "updated_at": _now(),
        }
        given = {
            "vat_check": vat_check,
            "decision_reason": decision_reason,
            "workshop_id": workshop_id,
        }
        values.update({name: value for name, value in given.items() if value is not None})
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(Registration).where(Registration.id == registration_id).values(**values)
            )

    async def create_workshop_and_owner(self, registration_id: str) -> NewWorkshop:
        """The approved registration's workshop, its owner account, and a fresh activation token.

        Idempotent: a retry finds the workshop it created (unique registration id) and the
        owner (unique email), and only issues a fresh token.
        """
        now = _now()
        async with self._session_factory() as session, session.begin():
            registration = await session.get(Registration, registration_id)
            if registration is None:
                raise ValueError(f"registration {registration_id} is not stored")
            workshop = await session.scalar(
                select(Workshop).where(Workshop.registration_id == registration.id)
            )
            if workshop is None:
                workshop = Workshop(
                    id=f"ws-{uuid.uuid4().hex[:12]}",
                    name=registration.company_name,
                    legal_form=registration.legal_form,
                    vat_id=registration.vat_id,
                    country=registration.country,
                    address=registration.address,
                    legal_representative=registration.legal_representative,
                    contact_email=registration.contact_email,
                    registration_id=registration.id,
                    created_at=now,
                )
                session.add(workshop)
                await session.flush()
            owner = await session.scalar(
                select(User).where(User.email == registration.contact_email)
            )
            if owner is None:
                owner = _new_user(
                    registration.contact_email,
                    registration.owner_name,
                    Role.WORKSHOP_OWNER,
                    workshop.id,
                    None,
                    now,
                )
                session.add(owner)
                await session.flush()
            token, _ = self._add_one_time_token(
                session, owner.id, "invitation", INVITATION_LIFETIME
            )
            return NewWorkshop(workshop.id, registration.company_name, owner.email, token)

    # --- inside a transaction -------------------------------------------------------------------

    @staticmethod
    def _add_session(session: AsyncSession, user_id: str, client_ip: str) -> IssuedSession:
        token, now = new_token(), _now()
        session.add(
            AuthSession(
                token_hash=hash_token(token),
                user_id=user_id,
                client_ip=client_ip,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        return IssuedSession(token=token, expires_at=now + SESSION_LIFETIME)

    @staticmethod
    def _add_one_time_token(
        session: AsyncSession, user_id: str, purpose: str, lifetime: timedelta
    ) -> tuple[str, datetime]:
        token, now = new_token(), _now()
        expires_at = now + lifetime
        session.add(
            OneTimeToken(
                token_hash=hash_token(token),
                purpose=purpose,
                user_id=user_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
        return token, expires_at

    @staticmethod
    async def _redeem(session: AsyncSession, token: str, purpose: str) -> User:
        """Marks a one-time token used and returns its user; wrong, expired or used ones fail."""
        now = _now()
        # The UPDATE ... WHERE used_at IS NULL makes redemption single-use under concurrency too.
        row = await session.scalar(
            update(OneTimeToken)
            .where(
                OneTimeToken.token_hash == hash_token(token),
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(OneTimeToken.user_id)
        )
        user = await session.get(User, row) if row is not None else None
        if user is None:
            raise TokenInvalid("the token is wrong, expired or already used", field="token")
        return user

    async def _token_holder(self, token: str, purpose: str) -> User:
        """The user of a live one-time token, without using the token up."""
        async with reading(self._session_factory) as session:
            user = await session.scalar(
                select(User)
                .join(OneTimeToken, OneTimeToken.user_id == User.id)
                .where(
                    OneTimeToken.token_hash == hash_token(token),
                    OneTimeToken.purpose == purpose,
                    OneTimeToken.used_at.is_(None),
                    OneTimeToken.expires_at > _now(),
                )
            )
        if user is None:
            raise TokenInvalid("the token is wrong, expired or already used", field="token")
        return user

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
                .values(ended_at=_now(), end_reason=end_sessions_reason)
            )

    @staticmethod
    async def _second_factor_ok(
        session: AsyncSession, user: User, totp_code: str | None, recovery_code: str | None
    ) -> bool:
        if totp_code:
            return await _use_totp_code(session, user, totp_code, field="totp_code")
        if recovery_code:
            used = await session.scalar(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == hash_token(recovery_code.strip().lower()),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=_now())
                .returning(RecoveryCode.id)
            )
            return used is not None
        return False

    @staticmethod
    async def _email_taken(session: AsyncSession, email: str) -> bool:
        return await session.scalar(select(User.id).where(User.email == email)) is not None

    @staticmethod
    async def _open_registration_for(
        session: AsyncSession, application: Application
    ) -> Registration | None:
        return await session.scalar(
            select(Registration).where(
                Registration.is_open,
                or_(
                    Registration.vat_id == application.vat_id,
                    Registration.contact_email == application.contact_email,
                ),
            )
        )
