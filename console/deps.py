"""Request dependencies of the console pages, each an `Annotated` alias a route declares by type.

- `Translate`: the request's `Translator` (messages, dates, numbers, money).
- `SignedIn`: the signed-in person (the session cookie, valid only from the IP address that
  signed in, checked by the same use case, `application.accounts.live_session`, as the API's
  bearer tokens);
  without one the browser is sent to the sign-in page.
- `WorkshopMember`: a signed-in person who belongs to a workshop (`.workshop_id` is a str).
- `CsrfChecked`: declare it on every POST route; a missing or wrong token is the 403 page.

The JSON API's dependencies (`web.deps.AccountsDep`, `AccessRepositoryDep`, `TemporalDep`,
`SettingsDep`, ...) work in console routes as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from application.accounts import live_session
from application.authorization import SessionExpired, SessionIpChanged
from console.i18n import Translator
from console.rendering import translator
from console.security import CSRF_FIELD, SESSION_COOKIE, csrf_binding, csrf_valid
from db.models import AuthSession, User
from domain.accounts import Role
from web.auth import client_ip
from web.deps import AccountsDep, SettingsDep


class SignInRequired(Exception):
    """No live session: the console answers with the sign-in page (`reason` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A form came without this browser's CSRF token: the console answers 403."""


class NotAWorkshopMember(Exception):
    """An administrator opened a workshop's page: the console answers 403."""


Translate = Annotated[Translator, Depends(translator)]


@dataclass(frozen=True)
class SignedInPerson:
    """Who is using the console, and the session they use it in."""

    user: User
    session: AuthSession

    @property
    def is_administrator(self) -> bool:
        return self.user.role == Role.ADMINISTRATOR

    @property
    def is_owner(self) -> bool:
        return self.user.role in (Role.WORKSHOP_OWNER, Role.ADMINISTRATOR)


async def signed_in(request: Request, accounts: AccountsDep) -> SignedInPerson:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired("required")
    try:
        # The session and its account in one read, as for the API's bearer tokens.
        live = await live_session(accounts, token, client_ip(request))
    except SessionIpChanged:
        raise SignInRequired("ip-changed") from None
    except SessionExpired:
        raise SignInRequired("ended") from None
    person = SignedInPerson(user=live.user, session=live.session)
    request.state.signed_in = person  # the base layout shows who is signed in
    return person


SignedIn = Annotated[SignedInPerson, Depends(signed_in)]


@dataclass(frozen=True)
class WorkshopPerson(SignedInPerson):
    workshop_id: str = ""


async def workshop_member(person: SignedIn) -> WorkshopPerson:
    if person.user.workshop_id is None:
        raise NotAWorkshopMember()
    return WorkshopPerson(
        user=person.user, session=person.session, workshop_id=person.user.workshop_id
    )


WorkshopMember = Annotated[WorkshopPerson, Depends(workshop_member)]


async def check_csrf(request: Request, settings: SettingsDep) -> None:
    form = await request.form()  # parsed once; the route's Form(...) parameters reuse it
    submitted = form.get(CSRF_FIELD)
    if not csrf_valid(
        settings, csrf_binding(request), submitted if isinstance(submitted, str) else None
    ):
        raise CsrfRejected()


CsrfChecked = Annotated[None, Depends(check_csrf)]
