"""Who may see what: the rules every use case, the request dependencies (web/deps.py) and the
routes apply.

A workshop sees only its own data (others' ids answer 404, so existence does not leak);
administrators see all. Sessions are valid only from the IP address that logged in.
"""

from __future__ import annotations

from db.models import User
from domain.accounts import Role
from domain.errors import Forbidden, NotFound, Unauthenticated


class SessionExpired(Unauthenticated):
    code = "session-expired"
    title = "The session has ended"


class SessionIpChanged(Unauthenticated):
    code = "session-ip-changed"
    title = "The session was started from another IP address"


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


def ensure_administrator(user: User) -> None:
    """Portal staff only (registrations, prices, vouchers, operators' views)."""
    if user.role != Role.ADMINISTRATOR:
        raise Forbidden("only portal administrators may do this")
