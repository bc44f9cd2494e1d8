"""Who is calling: a bearer session token, valid only from the IP address that logged in.

`CurrentUser` for any signed-in person, `AdminUser` for portal staff, and
`ensure_workshop_access` for every route that takes a workshop-owned id: a workshop sees only
its own data (others' ids answer 404, so existence does not leak); administrators see all.
`CurrentStation` for the routes a station worker calls with its own token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from api.deps import ResourcesDep
from db.credentials import hash_token
from db.models import AuthSession, Station, User
from domain.accounts import Role
from domain.errors import Forbidden, NotFound, Unauthenticated

bearer = HTTPBearer(auto_error=False, description="The session token from POST /auth/login")


class SessionExpired(Unauthenticated):
    code = "session-expired"
    title = "The session has ended"


class SessionIpChanged(Unauthenticated):
    code = "session-ip-changed"
    title = "The session was started from another IP address"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_session(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AuthSession:
    """The caller's session, read in a transaction of its own that ends here.

    The route's own session must not inherit an open transaction: on SQLite it holds the write
    lock, and a route awaiting a workflow whose activities write would wait on itself.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("sign in with POST /auth/login and send the token as a Bearer token")
    async with resources.session_factory() as session, session.begin():
        auth = await session.scalar(
            select(AuthSession).where(AuthSession.token_hash == hash_token(credentials.credentials))
        )
        now = datetime.now(UTC)
        if auth is None or auth.ended_at is not None or auth.expires_at <= now:
            raise SessionExpired("the session token is unknown, expired or logged out")
        if auth.client_ip != client_ip(request):
            # The portal's rule: the IP must not change during a session. The session ends here.
            auth.ended_at, auth.end_reason = now, "ip-changed"
            ip_changed = True
        else:
            ip_changed = False
    if ip_changed:
        raise SessionIpChanged("the session was ended; sign in again from this address")
    return auth


CurrentSession = Annotated[AuthSession, Depends(current_session)]


async def current_user(auth: CurrentSession, resources: ResourcesDep) -> User:
    """The signed-in person, detached: routes that change the account load it in their session."""
    async with resources.session_factory() as session:
        user = await session.get(User, auth.user_id)
    if user is None:
        raise SessionExpired("the account no longer exists")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def require_admin(user: CurrentUser) -> User:
    if user.role != Role.ADMINISTRATOR:
        raise Forbidden("only portal administrators may do this")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


class StationTokenInvalid(Unauthenticated):
    code = "station-token-invalid"
    title = "The station token is unknown"


async def current_station(
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Station:
    """The station whose own token is the Bearer token (a station worker calling the portal)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StationTokenInvalid("send the station's token (AOS_STATION_TOKEN) as a Bearer token")
    async with resources.session_factory() as session:
        station = await session.scalar(
            select(Station).where(Station.token_digest == hash_token(credentials.credentials))
        )
    if station is None:
        raise StationTokenInvalid(
            "the station token is unknown or was replaced; the workshop's owner issues a new "
            "one with POST /workshops/{workshop_id}/stations/{station_id}/token"
        )
    return station


CurrentStation = Annotated[Station, Depends(current_station)]


def ensure_workshop_access(
    user: User, workshop_id: str | None, absent: NotFound | None = None
) -> None:
    """Administrators reach every workshop; everybody else only their own.

    Another workshop's resource looks absent: `absent` is the very error the caller raises for
    an unknown id, so the two answers are identical and existence does not leak.
    """
    if user.role == Role.ADMINISTRATOR:
        return
    if workshop_id is None or user.workshop_id != workshop_id:
        raise absent or NotFound("no workshop with this id")


def ensure_owner(user: User, workshop_id: str) -> None:
    ensure_workshop_access(user, workshop_id)
    if user.role not in (Role.ADMINISTRATOR, Role.WORKSHOP_OWNER):
        raise Forbidden("only the workshop's owner may do this")
