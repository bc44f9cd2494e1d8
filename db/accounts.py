"""The accounts aggregate: workshops, their people, sign-in sessions, single-use tokens,
recovery codes, and the registrations that create workshops.

The API (sign-in, passwords, invitations, registrations) and the registration activities
share this one implementation, `AccountRepository`, made of one part per concern: signing in
and its throttle (`db.sign_in`), registrations (`db.registrations`), and here sessions,
passwords, invitations and administrators; what they share is `db.account_store`. Each method
is one short transaction of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from sqlalchemy import ColumnElement, CursorResult, Row, bindparam, select, update

from db.account_store import (
    IssuedSession,
    IssuedToken,
    LiveSession,
    NewWorkshop,
    PendingSecondFactor,
    SessionFactory,
    SessionRefusal,
    TotpEnrolment,
    new_user,
    use_totp_code,
    utc_now,
)
from db.engine import reading
from db.models import AuthSession, User, Workshop
from db.registrations import RegistrationRecords
from db.rows import get_or_raise
from db.sign_in import SignInRecords
from domain.accounts import (
    INVITATION_LIFETIME,
    PASSWORD_RESET_LIFETIME,
    InvalidCredentials,
    Role,
    check_password_policy,
)
from domain.errors import Conflict, NotFound
from domain.languages import DEFAULT_LANGUAGE, Language, language_or_default
from security.credentials import (
    hash_password,
    hash_token,
    new_totp_secret,
    totp_step,
    verify_password,
)

__all__ = [
    "AccountRepository",
    "IssuedSession",
    "IssuedToken",
    "LiveSession",
    "NewWorkshop",
    "PendingSecondFactor",
    "SessionFactory",
    "SessionRefusal",
    "TotpEnrolment",
]

# The session of a token and its account, read on every request (built once: see
# `db.service_history.VEHICLE_FACTS`).
SIGNED_IN = (
    select(AuthSession, User)
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)


class AccountRepository(SignInRecords, RegistrationRecords):
    """Accounts: sessions, sign-in, passwords, invitations, administrators, registrations."""

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
        if auth.ended_at is not None or auth.expires_at <= utc_now():
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
                .values(ended_at=utc_now(), end_reason=reason)
            )

    async def user(self, user_id: str) -> User | None:
        """The account, detached: a change goes through a method of this repository."""
        async with reading(self._session_factory) as session:
            return await session.get(User, user_id)

    async def profile(
        self, user_id: str
    ) -> Row[str, str, str, str, str | None, str | None, str] | None:
        """The account and its workshop's name: `id`, `email`, `name`, `role`, `workshop_id`,
        `workshop_name` (None without a workshop), `language`."""
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
                    User.language,
                )
                .outerjoin(Workshop, Workshop.id == User.workshop_id)
                .where(User.id == user_id)
            )
            return rows.first()

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
            return IssuedToken(
                user.id, user.email, token, expires_at, language_or_default(user.language)
            )

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
            user = await get_or_raise(session, User, user_id, NotFound("no account with this id"))
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
            if not await use_totp_code(session, user, totp_code, field="totp_code"):
                raise InvalidCredentials("the TOTP code is wrong", field="totp_code")
            await self._store_password(session, user.id, password_hash, end_sessions_reason=None)

    async def invite_technician(
        self, workshop_id: str, email: str, name: str, language: Language = DEFAULT_LANGUAGE
    ) -> IssuedToken:
        """A technician account of the workshop without a password, reading `language`, and its
        invitation token; `conflict` when an account with this email exists."""
        email = email.lower()
        async with self._session_factory() as session, session.begin():
            # An administrator may name any workshop: an unknown one is the usual 404, not a
            # foreign-key failure at the insert.
            if await session.get(Workshop, workshop_id) is None:
                raise NotFound("no workshop with this id")
            if await session.scalar(select(User.id).where(User.email == email)) is not None:
                raise Conflict("an account with this email exists", field="email")
            technician = new_user(
                email, name, Role.TECHNICIAN, workshop_id, None, utc_now(), language
            )
            session.add(technician)
            await session.flush()
            token, expires_at = self._add_one_time_token(
                session, technician.id, "invitation", INVITATION_LIFETIME
            )
        return IssuedToken(technician.id, email, token, expires_at, language)

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
            session.add(new_user(email, name, Role.ADMINISTRATOR, None, password_hash, utc_now()))
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

    async def administrators_to_mail(self) -> Sequence[tuple[str, Language]]:
        """Each administrator's email and the language their mail is written in."""
        async with reading(self._session_factory) as session:
            rows = await session.execute(
                select(User.email, User.language).where(User.role == Role.ADMINISTRATOR.value)
            )
            return [(email, language_or_default(language)) for email, language in rows]

    async def language_of(self, email: str) -> Language:
        """The language of the account with this email; English when there is none (a
        workshop's contact address need not be a person's account)."""
        async with reading(self._session_factory) as session:
            language = await session.scalar(
                select(User.language).where(User.email == email.strip().lower())
            )
        return language_or_default(language)

    async def set_language(self, user_id: str, language: Language) -> None:
        """The language the person reads from now on: the console's and their mail's."""
        async with self._session_factory() as session, session.begin():
            changed = await session.execute(
                update(User).where(User.id == user_id).values(language=language.value)
            )
        if cast("CursorResult[object]", changed).rowcount == 0:
            raise NotFound("no account with this id")
