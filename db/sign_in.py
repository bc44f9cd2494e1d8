"""Signing in: the password, then the TOTP code or a recovery code (in one request, or in two
with a pending sign-in between them), TOTP enrolment, and the throttle of failed attempts per
account and address (`domain.accounts.sign_in_hold`).

Password hashing (argon2, ~0.2 s of CPU) runs in a thread, off the event loop where it would
stall every other request, and outside any transaction, where it would hold SQLite's write
lock meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.account_store import (
    PENDING_SIGN_IN_ENDED,
    AccountStore,
    IssuedSession,
    PasswordChecked,
    PendingSecondFactor,
    TotpEnrolment,
    use_totp_code,
)
from db.engine import reading
from db.models import PendingSignIn, RecoveryCode, SignInFailureRecord, User
from db.rows import get_or_raise
from domain.accounts import (
    ENROLMENT_LIFETIME,
    FAILURE_WINDOW,
    PENDING_SIGN_IN_LIFETIME,
    RECOVERY_CODE_COUNT,
    InvalidCredentials,
    SignInFailure,
    SignInHold,
    TokenInvalid,
    TooManyAttempts,
    TotpRequired,
    sign_in_hold,
)
from security.credentials import (
    burn_password_check,
    hash_token,
    new_recovery_code,
    new_totp_secret,
    totp_provisioning_uri,
    verify_password,
)


class SignInRecords(AccountStore):
    """The sign-in steps of `db.accounts.AccountRepository`."""

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
        now = self._clock()
        async with self._session_factory() as session, session.begin():
            await session.execute(delete(PendingSignIn).where(PendingSignIn.expires_at <= now))
            token, expires_at = self._add_user_token(
                session,
                PendingSignIn,
                checked.user_id,
                now,
                PENDING_SIGN_IN_LIFETIME,
                client_ip=client_ip,
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
            return self.add_session(session, user.id, client_ip)

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
            if not await use_totp_code(session, user, code, field="code"):
                # Raised inside the transaction: it rolls the token's redemption back.
                raise InvalidCredentials("the TOTP code is wrong", field="code")
            user.totp_enrolled = True
            codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
            session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_token(c)) for c in codes)
            await self._clear_failures(session, holder.email, client_ip)
            issued = self.add_session(session, user.id, client_ip)
        return replace(issued, recovery_codes=codes)

    async def _check_password(self, email: str, password: str, client_ip: str) -> PasswordChecked:
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
        return PasswordChecked(account_key, attempt, user.id, user.totp_enrolled, password_ok)

    async def _finish_sign_in(
        self,
        checked: PasswordChecked,
        totp_code: str | None,
        recovery_code: str | None,
        client_ip: str,
    ) -> IssuedSession | TotpEnrolment:
        outcome: IssuedSession | TotpEnrolment | None = None
        async with self._session_factory() as session, session.begin():
            missing = InvalidCredentials("email or password is wrong")
            user = await get_or_raise(session, User, checked.user_id, missing)
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
                    outcome = self.add_session(session, user.id, client_ip)
        if outcome is None:  # the attempt stays recorded as a failure
            raise InvalidCredentials("email, password or second factor is wrong")
        return outcome

    async def _pending_holder(self, token: str, client_ip: str) -> User:
        """The account of a live pending sign-in started from `client_ip`, without using it."""
        refused = TokenInvalid(PENDING_SIGN_IN_ENDED, field="token")
        return await self._holder(PendingSignIn, self._pending_usable(token, client_ip), refused)

    async def _redeem_pending(self, session: AsyncSession, token: str, client_ip: str) -> User:
        """Marks a pending sign-in used and returns its account; refused as `_pending_holder`."""
        usable = self._pending_usable(token, client_ip)
        refused = TokenInvalid(PENDING_SIGN_IN_ENDED, field="token")
        return await self._use_up(session, PendingSignIn, usable, self._clock(), refused)

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
