"""Signing in with a password and a TOTP second factor, and everything around it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import client_ip, ensure_owner
from api.deps import CurrentSession, CurrentUser, MailSenderDep, SessionDep
from contracts.mail import MailMessage
from db.credentials import (
    burn_password_check,
    hash_password,
    hash_token,
    new_recovery_code,
    new_token,
    new_totp_secret,
    totp_provisioning_uri,
    verify_password,
    verify_totp,
)
from db.models import AuthSession, OneTimeToken, RecoveryCode, User, Workshop
from domain.accounts import (
    ENROLMENT_LIFETIME,
    INVITATION_LIFETIME,
    PASSWORD_RESET_LIFETIME,
    RECOVERY_CODE_COUNT,
    SESSION_LIFETIME,
    Role,
    check_password_policy,
    locked_until_after_failure,
)
from domain.errors import Conflict, DomainError, Unauthenticated

router = APIRouter(tags=["authentication"])


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


class Login(BaseModel):
    email: EmailStr
    password: str = Field(max_length=256)
    totp_code: str | None = Field(default=None, description="From the authenticator app")
    recovery_code: str | None = Field(default=None, description="Instead of totp_code, once")


class SessionIssued(BaseModel):
    status: Literal["signed_in"] = "signed_in"
    token: str
    expires_at: datetime
    recovery_codes: list[str] | None = Field(
        default=None, description="Shown once, after TOTP enrolment; each works once"
    )


class EnrolmentRequired(BaseModel):
    status: Literal["totp_enrolment_required"] = "totp_enrolment_required"
    enrolment_token: str
    provisioning_uri: str
    secret: str


class TotpConfirm(BaseModel):
    enrolment_token: str
    code: str


class PasswordResetRequest(BaseModel):
    email: EmailStr


class PasswordResetConfirm(BaseModel):
    token: str
    new_password: str


class PasswordChange(BaseModel):
    current_password: str
    new_password: str
    totp_code: str


class InvitationAccept(BaseModel):
    password: str


class Invite(BaseModel):
    email: EmailStr
    name: str = Field(min_length=2, max_length=200)


class Invited(BaseModel):
    user_id: str
    email: str
    expires_at: datetime


class Me(BaseModel):
    user_id: str
    email: str
    name: str
    role: Role
    workshop_id: str | None
    workshop_name: str | None


class Accepted(BaseModel):
    status: str


def _now() -> datetime:
    return datetime.now(UTC)


async def _issue_session(session: AsyncSession, user: User, ip: str) -> SessionIssued:
    token, now = new_token(), _now()
    session.add(
        AuthSession(
            token_hash=hash_token(token),
            user_id=user.id,
            client_ip=ip,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return SessionIssued(token=token, expires_at=now + SESSION_LIFETIME)


async def _issue_one_time_token(
    session: AsyncSession, user: User, purpose: str, lifetime: timedelta
) -> tuple[str, datetime]:
    token, now = new_token(), _now()
    expires_at = now + lifetime
    session.add(
        OneTimeToken(
            token_hash=hash_token(token),
            purpose=purpose,
            user_id=user.id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


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


async def _second_factor_ok(session: AsyncSession, user: User, login: Login) -> bool:
    if login.totp_code and user.totp_secret:
        return verify_totp(user.totp_secret, login.totp_code)
    if login.recovery_code:
        used = await session.scalar(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == hash_token(login.recovery_code.strip().lower()),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=_now())
            .returning(RecoveryCode.id)
        )
        return used is not None
    return False


@router.post("/auth/login", response_model=SessionIssued | EnrolmentRequired)
async def login(
    body: Login, request: Request, session: SessionDep
) -> SessionIssued | EnrolmentRequired:
    """Sign in. The first time, the answer asks to enrol a TOTP app (POST /auth/totp/confirm).

    Five failures in a row lock the account for 15 minutes. The session is bound to the IP
    address it was started from.
    """
    user = await session.scalar(select(User).where(User.email == body.email.lower()))
    now = _now()
    if user is None or user.password_hash is None:
        await asyncio.to_thread(burn_password_check, body.password)
        raise InvalidCredentials("email or password is wrong")
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(
            "too many failed sign-ins; try again later", locked_until=user.locked_until.isoformat()
        )
    # argon2 takes ~0.2 s of CPU: off the event loop, or every other request waits meanwhile
    password_ok = await asyncio.to_thread(verify_password, user.password_hash, body.password)
    if password_ok and user.totp_enrolled and not (body.totp_code or body.recovery_code):
        raise TotpRequired(
            "send totp_code (or a recovery_code) with the password", field="totp_code"
        )
    if not password_ok or (user.totp_enrolled and not await _second_factor_ok(session, user, body)):
        user.failed_logins += 1
        user.locked_until = locked_until_after_failure(user.failed_logins, now)
        await session.commit()
        raise InvalidCredentials("email, password or second factor is wrong")
    user.failed_logins, user.locked_until = 0, None
    if not user.totp_enrolled:
        user.totp_secret = user.totp_secret or new_totp_secret()
        token, _ = await _issue_one_time_token(session, user, "totp-enrolment", ENROLMENT_LIFETIME)
        await session.commit()
        return EnrolmentRequired(
            enrolment_token=token,
            provisioning_uri=totp_provisioning_uri(user.totp_secret, user.email),
            secret=user.totp_secret,
        )
    issued = await _issue_session(session, user, client_ip(request))
    await session.commit()
    return issued


@router.post("/auth/totp/confirm", response_model=SessionIssued)
async def confirm_totp(body: TotpConfirm, request: Request, session: SessionDep) -> SessionIssued:
    """Finish TOTP enrolment with a code from the app; answers a session and recovery codes."""
    user = await _redeem(session, body.enrolment_token, "totp-enrolment")
    if not user.totp_secret or not verify_totp(user.totp_secret, body.code):
        await session.rollback()  # the enrolment token stays usable for another try
        raise InvalidCredentials("the TOTP code is wrong", field="code")
    user.totp_enrolled = True
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=hash_token(code)))
    issued = await _issue_session(session, user, client_ip(request))
    issued.recovery_codes = codes
    await session.commit()
    return issued


@router.post("/auth/logout", response_model=Accepted)
async def logout(auth: CurrentSession, session: SessionDep) -> Accepted:
    """End this session; its token stops working at once."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == auth.id)
        .values(ended_at=_now(), end_reason="logout")
    )
    await session.commit()
    return Accepted(status="signed_out")


@router.post("/auth/password-reset", status_code=202, response_model=Accepted)
async def request_password_reset(
    body: PasswordResetRequest, session: SessionDep, mail: MailSenderDep
) -> Accepted:
    """Mail a single-use reset token valid for one hour. Answers the same for unknown emails."""
    user = await session.scalar(select(User).where(User.email == body.email.lower()))
    if user is not None:
        token, _ = await _issue_one_time_token(
            session, user, "password-reset", PASSWORD_RESET_LIFETIME
        )
        await session.commit()
        await mail.send(
            MailMessage(
                message_key=f"password-reset/{hash_token(token)[:24]}",
                recipient=user.email,
                subject="Reset your password",
                body=f"Your reset token, valid for one hour:\n{token}\n",
                category="password-reset",
            )
        )
    return Accepted(status="if the account exists, a reset token was mailed")


@router.post("/auth/password-reset/confirm", response_model=Accepted)
async def confirm_password_reset(body: PasswordResetConfirm, session: SessionDep) -> Accepted:
    """Set a new password with the mailed token; every open session of the account ends."""
    user = await _redeem(session, body.token, "password-reset")
    check_password_policy(body.new_password, user.email)
    await _set_password(session, user, body.new_password, end_sessions_reason="password-reset")
    await session.commit()
    return Accepted(status="password changed")


async def _set_password(
    session: AsyncSession, user: User, password: str, end_sessions_reason: str | None
) -> None:
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.failed_logins, user.locked_until = 0, None
    if end_sessions_reason:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.ended_at.is_(None))
            .values(ended_at=_now(), end_reason=end_sessions_reason)
        )


@router.post("/auth/password-change", response_model=Accepted)
async def change_password(
    body: PasswordChange, caller: CurrentUser, session: SessionDep
) -> Accepted:
    """Change the password: needs the current one and a TOTP code."""
    user = await session.get(User, caller.id)
    assert user is not None
    if user.password_hash is None or not await asyncio.to_thread(
        verify_password, user.password_hash, body.current_password
    ):
        raise InvalidCredentials("the current password is wrong", field="current_password")
    if not user.totp_secret or not verify_totp(user.totp_secret, body.totp_code):
        raise InvalidCredentials("the TOTP code is wrong", field="totp_code")
    check_password_policy(body.new_password, user.email)
    await _set_password(session, user, body.new_password, end_sessions_reason=None)
    await session.commit()
    return Accepted(status="password changed")


@router.get("/me", response_model=Me)
async def me(user: CurrentUser, session: SessionDep) -> Me:
    """The signed-in person and their workshop."""
    workshop = await session.get(Workshop, user.workshop_id) if user.workshop_id else None
    return Me(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        workshop_id=user.workshop_id,
        workshop_name=workshop.name if workshop else None,
    )


@router.post("/workshops/{workshop_id}/invitations", status_code=201, response_model=Invited)
async def invite_technician(
    workshop_id: str, body: Invite, user: CurrentUser, session: SessionDep, mail: MailSenderDep
) -> Invited:
    """The workshop's owner invites a technician; the invitation link expires in 7 days."""
    ensure_owner(user, workshop_id)
    email = body.email.lower()
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("an account with this email exists", field="email")
    technician = User(
        id=f"user-{uuid.uuid4().hex[:12]}",
        email=email,
        name=body.name,
        role=Role.TECHNICIAN.value,
        workshop_id=workshop_id,
        password_hash=None,
        totp_enrolled=False,
        created_at=_now(),
    )
    session.add(technician)
    await session.flush()
    token, expires_at = await _issue_one_time_token(
        session, technician, "invitation", INVITATION_LIFETIME
    )
    await session.commit()
    await mail.send(
        MailMessage(
            message_key=f"invitation/{hash_token(token)[:24]}",
            recipient=email,
            subject="You are invited to the AOS portal",
            body=f"Accept within 7 days with this token:\n{token}\n",
            category="invitation",
        )
    )
    return Invited(user_id=technician.id, email=email, expires_at=expires_at)


@router.post("/invitations/{token}/accept", response_model=Accepted)
async def accept_invitation(token: str, body: InvitationAccept, session: SessionDep) -> Accepted:
    """Set the password of an invited account (owners after approval, technicians)."""
    user = await _redeem(session, token, "invitation")
    check_password_policy(body.password, user.email)
    await _set_password(session, user, body.password, end_sessions_reason=None)
    await session.commit()
    return Accepted(status="password set; sign in with POST /auth/login")
