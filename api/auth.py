"""Who may see what: the rules the request dependencies (api/deps.py) and routes apply.

A workshop sees only its own data (others' ids answer 404, so existence does not leak);
administrators see all. Sessions are valid only from the IP address that logged in.
"""

from __future__ import annotations

from fastapi import Request

from db.models import User
from domain.accounts import Role
from domain.errors import Forbidden, NotFound, Unauthenticated


class SessionExpired(Unauthenticated):
    code = "session-expired"
    title = "The session has ended"


class SessionIpChanged(Unauthenticated):
    code = "session-ip-changed"
    title = "The session was started from another IP address"


# The console sets it beside its own session cookie, with the same session token, on the codec's
# path only (console.security): the Temporal Web UI sends it to the payload codec with
# "Include cross-origin credentials". No other route reads a cookie.
CODEC_SESSION_COOKIE = "aos_codec_session"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class StationTokenInvalid(Unauthenticated):
    code = "station-token-invalid"
    title = "The station token is unknown"


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
