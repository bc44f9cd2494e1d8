"""Accounts: signing in (password, TOTP, recovery codes), TOTP enrolment, sessions, passwords,
and the members of a workshop.

The use cases behind `/auth/*`, `/me`, `/workshops/{id}/invitations`, `/invitations/{token}/
accept` and the console's sign-in and invitation pages, so the throttle, the single use of each
TOTP code and the IP binding are one implementation.

They take the `AccountRepository` rather than `AppResources`: its clock is what the sign-in
throttle and the pending sign-ins call "now", and the web layer hands in the one it was given
(`web.deps.get_accounts`, which tests replace to move that clock past a window). Those that mail
take the `MailSender` too.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.authorization import (
    SessionExpired,
    SessionIpChanged,
    ensure_owner,
)
from contracts.mail import MailMessage
from db.accounts import (
    AccountRepository,
    IssuedSession,
    IssuedToken,
    LiveSession,
    PendingSecondFactor,
    SessionRefusal,
    TotpEnrolment,
)
from db.models import User
from domain.accounts import Role
from domain.languages import Language, language_or_default
from domain.mail_texts import MailKind, mail_text
from mail.senders import MailSender
from security.credentials import hash_token, totp_provisioning_uri

# How much of a token's hash names its mail (the message key): a retried send of one token's
# mail is kept once.
MAIL_KEY_HASH_CHARS = 24


@dataclass(frozen=True)
class Profile:
    """The signed-in person and their workshop (`GET /me`, the console's header)."""

    user_id: str
    email: str
    name: str
    role: Role
    workshop_id: str | None
    workshop_name: str | None
    language: Language


# --- sessions -------------------------------------------------------------------------------------


async def live_session(accounts: AccountRepository, token: str, client_ip: str) -> LiveSession:
    """The session of a bearer token used from `client_ip`, and its account.

    `session-ip-changed` when it is used from another address than it started from (the
    portal's rule: the IP must not change during a session; the session ended there),
    `session-expired` when it is unknown, expired or logged out.
    """
    found = await accounts.signed_in(token, client_ip)
    if found is SessionRefusal.IP_CHANGED:
        raise SessionIpChanged("the session was ended; sign in again from this address")
    if isinstance(found, SessionRefusal):
        raise SessionExpired("the session token is unknown, expired or logged out")
    return found


async def sign_out(accounts: AccountRepository, session_id: int) -> None:
    """End the session: its token stops working at once, wherever it was copied."""
    await accounts.end_session(session_id, "logout")


async def profile(accounts: AccountRepository, caller: User) -> Profile:
    """The caller and their workshop's name; `session-expired` when the account is gone."""
    row = await accounts.profile(caller.id)
    if row is None:
        raise SessionExpired("the account no longer exists")
    return Profile(
        user_id=row.id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        workshop_id=row.workshop_id,
        workshop_name=row.workshop_name,
        language=language_or_default(row.language),
    )


async def change_language(accounts: AccountRepository, caller: User, language: Language) -> Profile:
    """The language the caller reads from now on: their mail's (the console page that changes
    it also switches that browser to it)."""
    await accounts.set_language(caller.id, language)
    return await profile(accounts, caller)


# --- signing in -----------------------------------------------------------------------------------


async def sign_in(
    accounts: AccountRepository,
    email: str,
    password: str,
    totp_code: str | None,
    recovery_code: str | None,
    client_ip: str,
) -> IssuedSession | TotpEnrolment:
    """One step (the API): a session bound to `client_ip`, or before the TOTP app is enrolled,
    the enrolment. Refusals: `too-many-attempts`, `invalid-credentials`, `totp-required`,
    `totp-code-used` (`AccountRepository.sign_in` has the rules)."""
    return await accounts.sign_in(email, password, totp_code, recovery_code, client_ip)


async def start_sign_in(
    accounts: AccountRepository, email: str, password: str, client_ip: str
) -> PendingSecondFactor | TotpEnrolment:
    """Two steps (the console), the first: the password alone. For an enrolled account a
    pending sign-in whose random token the browser keeps instead of the password."""
    return await accounts.start_sign_in(email, password, client_ip)


async def pending_sign_in_live(accounts: AccountRepository, token: str, client_ip: str) -> bool:
    """Whether `finish_sign_in` would take this pending sign-in from `client_ip` now."""
    return await accounts.pending_sign_in_live(token, client_ip)


async def finish_sign_in(
    accounts: AccountRepository,
    pending_token: str,
    totp_code: str | None,
    recovery_code: str | None,
    client_ip: str,
) -> IssuedSession:
    """Two steps, the second: the TOTP code (or a recovery code) of a pending sign-in."""
    return await accounts.finish_sign_in(pending_token, totp_code, recovery_code, client_ip)


async def confirm_totp(
    accounts: AccountRepository, enrolment_token: str, code: str, client_ip: str
) -> IssuedSession:
    """Finish TOTP enrolment with the app's first code: a session and the recovery codes."""
    return await accounts.confirm_totp(enrolment_token, code, client_ip)


def enrolment_shown_again(enrolment_token: str, secret: str, email: str) -> TotpEnrolment:
    """The enrolment a page showed, to show again after a wrong code: the secret is the one
    the page showed (the stored one is what counts when the code is checked)."""
    return TotpEnrolment(
        enrolment_token=enrolment_token,
        provisioning_uri=totp_provisioning_uri(secret, email),
        secret=secret,
    )


# --- passwords and members ------------------------------------------------------------------------


async def _mail_token(mail: MailSender, purpose: str, issued: IssuedToken, kind: MailKind) -> None:
    """Mail a single-use token to its holder in their language, once per token (the message
    key names it)."""
    text = mail_text(kind, issued.language, token=issued.token)
    await mail.send(
        MailMessage(
            message_key=f"{purpose}/{hash_token(issued.token)[:MAIL_KEY_HASH_CHARS]}",
            recipient=issued.email,
            subject=text.subject,
            body=text.body,
            category=purpose,
        )
    )


async def request_password_reset(accounts: AccountRepository, mail: MailSender, email: str) -> None:
    """Mail a single-use reset token valid for one hour; nothing happens for an unknown email,
    and the caller answers the same either way."""
    reset = await accounts.request_password_reset(email)
    if reset is None:
        return
    await _mail_token(mail, "password-reset", reset, MailKind.PASSWORD_RESET)


async def reset_password(accounts: AccountRepository, token: str, new_password: str) -> None:
    """Set a new password with the mailed token; every open session of the account ends."""
    await accounts.reset_password(token, new_password)


async def change_password(
    accounts: AccountRepository,
    caller: User,
    current_password: str,
    totp_code: str,
    new_password: str,
) -> None:
    """The caller's new password, given the current one and a TOTP code (which works once)."""
    await accounts.change_password(caller.id, current_password, totp_code, new_password)


async def invite_technician(
    accounts: AccountRepository,
    mail: MailSender,
    caller: User,
    workshop_id: str,
    email: str,
    name: str,
) -> IssuedToken:
    """The workshop's owner (or an administrator) invites a technician: an account without a
    password, reading the inviter's language until the technician chooses theirs, and a mailed
    invitation in it that expires in 7 days."""
    ensure_owner(caller, workshop_id)
    language = language_or_default(caller.language)
    invitation = await accounts.invite_technician(workshop_id, email, name, language)
    await _mail_token(mail, "invitation", invitation, MailKind.INVITATION)
    return invitation


async def accept_invitation(accounts: AccountRepository, token: str, password: str) -> None:
    """Set the first password of an invited account (owners after approval, technicians)."""
    await accounts.accept_invitation(token, password)
