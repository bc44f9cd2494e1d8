"""Signing in with a password and a TOTP second factor, and everything around it.

The HTTP face of `application.accounts`: each route parses the request, calls the use case
and shapes the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, EmailStr, Field

from application import accounts as use_cases
from db.accounts import TotpEnrolment
from domain.accounts import (
    FAILURE_WINDOW,
    SOURCE_FAILURE_LIMIT,
    InvalidCredentials,
    Role,
    TokenInvalid,
    TooManyAttempts,
    TotpCodeUsed,
    TotpRequired,
    WeakPassword,
)
from domain.languages import Language
from web.auth import client_ip
from web.deps import AccountsDep, CurrentSession, CurrentUser, MailSenderDep
from web.problems import Responses, problem_responses, with_retry_after

router = APIRouter(tags=["authentication"])


class Login(BaseModel):
    email: EmailStr
    password: str = Field(max_length=256)
    totp_code: str | None = Field(default=None, description="From the authenticator app")
    recovery_code: str | None = Field(default=None, description="Instead of totp_code, once")


class SessionIssued(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: Literal["signed_in"] = "signed_in"
    token: str
    expires_at: datetime
    recovery_codes: list[str] | None = Field(
        default=None, description="Shown once, after TOTP enrolment; each works once"
    )


class EnrolmentRequired(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    email: str
    expires_at: datetime


class Me(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str = Field(validation_alias=AliasChoices("user_id", "id"))
    email: str
    name: str
    role: Role
    workshop_id: str | None
    workshop_name: str | None
    language: Language = Field(description="The language the person reads; their mail's")


class MeChange(BaseModel):
    language: Language = Field(
        description="The language the person reads from now on: their mail's"
    )


class Accepted(BaseModel):
    status: str


def _throttled(responses: Responses) -> Responses:
    """`responses` with the 429 `too-many-attempts` of the sign-in throttle (the rule:
    `domain.accounts.sign_in_hold`) and its `Retry-After` header."""
    held = responses[429]
    held["description"] += (
        f" This address failed {SOURCE_FAILURE_LIMIT} times on this account within "
        f"{FAILURE_WINDOW.seconds // 60} minutes, or the account is under attack and this "
        "address failed on it itself just now; other addresses are not held. The problem "
        "carries `retry_after` (seconds) and `retry_at`."
    )
    return with_retry_after(responses, 429, "Seconds until this address may try again")


@router.post(
    "/auth/login",
    response_model=SessionIssued | EnrolmentRequired,
    responses=_throttled(
        problem_responses(InvalidCredentials, TotpRequired, TotpCodeUsed, TooManyAttempts)
    ),
)
async def login(
    body: Login, request: Request, accounts: AccountsDep
) -> SessionIssued | EnrolmentRequired:
    """Sign in. The first time, the answer asks to enrol a TOTP app (POST /auth/totp/confirm).

    There is no account lock that others could trigger: failures are throttled per account and
    address (429 `too-many-attempts` with `Retry-After`), and an address without failures of
    its own is never held, so the owner signs in from their own address while another one
    hammers the account. The session is bound to the IP address it was started from.

    Each TOTP code works once: a code accepted before (or an older one) is 401
    `totp-code-used`; wait for the app's next code.
    """
    outcome = await use_cases.sign_in(
        accounts, body.email, body.password, body.totp_code, body.recovery_code, client_ip(request)
    )
    if isinstance(outcome, TotpEnrolment):
        return EnrolmentRequired.model_validate(outcome)
    return SessionIssued.model_validate(outcome)


@router.post(
    "/auth/totp/confirm",
    response_model=SessionIssued,
    responses=_throttled(
        problem_responses(InvalidCredentials, TotpCodeUsed, TooManyAttempts, TokenInvalid)
    ),
)
async def confirm_totp(body: TotpConfirm, request: Request, accounts: AccountsDep) -> SessionIssued:
    """Finish TOTP enrolment with a code from the app; answers a session and recovery codes.

    A wrong code is 401 `invalid-credentials` and counts as a failed sign-in from this address
    (the same throttle as `/auth/login`, 429 `too-many-attempts`); 422 `token-invalid` when
    the enrolment token is wrong, used or expired; 401 `totp-code-used` when the code was
    accepted before (each code works once).
    """
    issued = await use_cases.confirm_totp(
        accounts, body.enrolment_token, body.code, client_ip(request)
    )
    return SessionIssued.model_validate(issued)


@router.post("/auth/logout", response_model=Accepted)
async def logout(auth: CurrentSession, accounts: AccountsDep) -> Accepted:
    """End this session; its token stops working at once."""
    await use_cases.sign_out(accounts, auth.id)
    return Accepted(status="signed_out")


@router.post("/auth/password-reset", status_code=202, response_model=Accepted)
async def request_password_reset(
    body: PasswordResetRequest, accounts: AccountsDep, mail: MailSenderDep
) -> Accepted:
    """Mail a single-use reset token valid for one hour. Answers the same for unknown emails."""
    await use_cases.request_password_reset(accounts, mail, body.email)
    return Accepted(status="if the account exists, a reset token was mailed")


@router.post("/auth/password-reset/confirm", response_model=Accepted)
async def confirm_password_reset(body: PasswordResetConfirm, accounts: AccountsDep) -> Accepted:
    """Set a new password with the mailed token; every open session of the account ends."""
    await use_cases.reset_password(accounts, body.token, body.new_password)
    return Accepted(status="password changed")


@router.post(
    "/auth/password-change",
    response_model=Accepted,
    responses=problem_responses(InvalidCredentials, TotpCodeUsed, WeakPassword),
)
async def change_password(
    body: PasswordChange, caller: CurrentUser, accounts: AccountsDep
) -> Accepted:
    """Change the password: needs the current one and a TOTP code, which works once (401
    `totp-code-used` when it was accepted before)."""
    await use_cases.change_password(
        accounts, caller, body.current_password, body.totp_code, body.new_password
    )
    return Accepted(status="password changed")


@router.get("/me", response_model=Me)
async def me(user: CurrentUser, accounts: AccountsDep) -> Me:
    """The signed-in person and their workshop."""
    return Me.model_validate(await use_cases.profile(accounts, user))


@router.patch("/me", response_model=Me)
async def change_me(body: MeChange, user: CurrentUser, accounts: AccountsDep) -> Me:
    """Change what the signed-in person keeps: the language of their mail."""
    return Me.model_validate(await use_cases.change_language(accounts, user, body.language))


@router.post("/workshops/{workshop_id}/invitations", status_code=201, response_model=Invited)
async def invite_technician(
    workshop_id: str, body: Invite, user: CurrentUser, accounts: AccountsDep, mail: MailSenderDep
) -> Invited:
    """The workshop's owner invites a technician; the invitation link expires in 7 days."""
    invitation = await use_cases.invite_technician(
        accounts, mail, user, workshop_id, body.email, body.name
    )
    return Invited.model_validate(invitation)


@router.post("/invitations/{token}/accept", response_model=Accepted)
async def accept_invitation(token: str, body: InvitationAccept, accounts: AccountsDep) -> Accepted:
    """Set the password of an invited account (owners after approval, technicians)."""
    await use_cases.accept_invitation(accounts, token, body.password)
    return Accepted(status="password set; sign in with POST /auth/login")
