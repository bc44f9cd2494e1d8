"""Who is calling: the station whose own token is the call's bearer token.

The gateway only needs "token -> station id or nobody", as an async callable, so tests can use
a dictionary and production the portal's database (`station_by_token`), looked up by the same
`db.stations.StationRepository.by_token` as the API's station routes: only the token's SHA-256
digest is stored. It also notes in that database when it took a station's poll
(`station_polls`), which the API reads while Temporal cannot tell yet. `StationAuthentication`
is the gateway's own side: the caller of each call, and the re-checks of open calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.stations import StationRepository
from gateway.limits import UNKNOWN_TOKEN, FailedAuthentications
from gateway.rules import Refused

log = logging.getLogger(__name__)

Authenticate = Callable[[str], Awaitable[str | None]]
"""Returns the station id a token belongs to, or None for an unknown or replaced token."""

NotePoll = Callable[[str], Awaitable[None]]
"""Records that the station's worker polled its queue through the gateway just now."""


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the one `authorization: Bearer <token>` header, or None.

    Two authorization headers are refused rather than guessed between. temporalio sends
    `api_key=` and `rpc_metadata={"authorization": ...}` the same way, as this header.
    """
    values = [value for key, value in metadata or () if key.lower() == "authorization"]
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def station_by_token(session_factory: async_sessionmaker[AsyncSession]) -> Authenticate:
    """Authenticate against the portal's database: a replaced token is unknown at once."""

    stations = StationRepository(session_factory)

    async def authenticate(token: str) -> str | None:
        if not token:
            return None
        station = await stations.by_token(token)
        return station.id if station else None

    return authenticate


def station_polls(session_factory: async_sessionmaker[AsyncSession]) -> NotePoll:
    """Note a station's polls in the portal's database (`stations.last_polled_at`)."""

    stations = StationRepository(session_factory)

    async def note(station_id: str) -> None:
        await stations.note_poll(station_id, datetime.now(UTC))

    return note


class AuthenticationUnavailable(Exception):
    """The token could not be looked up (database away), which is not the station's fault."""


class StationAuthentication:
    """The gateway's side of authentication: which station a call comes from, by its bearer
    token, with sources that fail too often held off (`FailedAuthentications`); and whether an
    open call's token still names its station."""

    def __init__(self, authenticate: Authenticate, failed: FailedAuthentications) -> None:
        self._authenticate = authenticate
        self._failed = failed

    async def caller(
        self, source: str, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> tuple[str, str]:
        """The call's token and its station; raises `Refused` (unknown token, a source held
        off) or `AuthenticationUnavailable` (the lookup failed)."""
        token = self._failed.admit(source, bearer_token(metadata))
        try:
            station = await self._authenticate(token)
        except Exception as err:
            raise AuthenticationUnavailable from err
        if station is None:
            self._failed.failed(source, token)
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, UNKNOWN_TOKEN)
        self._failed.succeeded(token)
        return token, station

    async def still_authenticated(self, token: str, station: str) -> bool:
        """False only when the token now answers to nobody (or somebody else).

        A failing lookup (database briefly away) keeps open calls open: cutting every station
        at once would be worse than a revocation taking one more interval.
        """
        try:
            return await self._authenticate(token) == station
        except Exception:
            log.warning("cannot re-check a station token; keeping the call open", exc_info=True)
            return True
