"""Stations: the workshop PCs wired to cars, and their own credentials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import Station, Workshop
from db.rows import get_or_raise
from domain.errors import NotFound
from domain.service_history import (
    StationIdTaken,
    StationNeverSeen,
    StationNotFound,
    check_station_id,
)
from security.credentials import hash_token, new_token


class StationRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def of_workshop(self, station_id: str, workshop_id: str | None) -> Station:
        """The station if it belongs to `workshop_id`; `station-not-found` otherwise, so
        another workshop's station looks exactly like an unknown one."""
        async with reading(self._session_factory) as session:
            station = await session.get(Station, station_id)
        if station is None or station.workshop_id is None or station.workshop_id != workshop_id:
            raise StationNotFound("no station with this id", field="station_id")
        return station

    async def listed(self, workshop_id: str | None) -> Sequence[Station]:
        """The workshop's stations by id; None: every workshop's."""
        query = select(Station).order_by(Station.id)
        if workshop_id is not None:
            query = query.where(Station.workshop_id == workshop_id)
        async with reading(self._session_factory) as session:
            return (await session.scalars(query)).all()

    async def claim(
        self,
        workshop_id: str,
        station_id: str,
        name: str,
        *,
        worker_seen: bool,
        confirm_never_seen: bool,
    ) -> Station:
        """The workshop claims a station: a provisioned one (its worker, already polling with
        its token, starts serving the workshop) or a new id.

        Refusals: `station-id-invalid` (the id breaks `STATION_ID_PATTERN`), `station-id-taken`
        when a workshop holds the station already (this one too: renaming is `rename`), and
        `station-never-seen` when no worker of the station was seen polling (`worker_seen`)
        and the caller did not `confirm_never_seen`: a typo must not claim a station.
        """
        check_station_id(station_id)
        try:
            async with self._session_factory() as session, session.begin():
                if await session.get(Workshop, workshop_id) is None:
                    raise NotFound("no workshop with this id")
                station = await session.get(Station, station_id)
                if station is not None and station.workshop_id is not None:
                    held_here = station.workshop_id == workshop_id
                    raise StationIdTaken(
                        f"station {station_id} is already "
                        + (
                            "your workshop's; rename it with PATCH "
                            f"/workshops/{workshop_id}/stations/{station_id}"
                            if held_here
                            else "held by another workshop"
                        ),
                        field="station_id",
                    )
                if not worker_seen and not confirm_never_seen:
                    raise StationNeverSeen(
                        f"no worker of station {station_id} has been seen polling its queue "
                        f"(station-{station_id}); check the id, or, to set up a new station "
                        "before its worker runs, claim it with confirm_never_seen: true",
                        field="confirm_never_seen",
                    )
                if station is None:
                    station = Station(
                        id=station_id,
                        workshop_id=workshop_id,
                        name=name,
                        created_at=datetime.now(UTC),
                    )
                    session.add(station)
                else:
                    station.workshop_id, station.name = workshop_id, name
        except IntegrityError:  # a concurrent claim of the same id
            raise StationIdTaken(
                f"station {station_id} is already held by another workshop", field="station_id"
            ) from None
        return station

    async def rename(self, workshop_id: str, station_id: str, name: str) -> Station:
        """Rename one of the workshop's stations; others' look absent (`station-not-found`)."""
        async with self._session_factory() as session, session.begin():
            station = await self._held_by(session, workshop_id, station_id)
            station.name = name
        return station

    async def release(self, workshop_id: str, station_id: str) -> None:
        """The workshop lets go of one of its stations: it becomes unclaimed and its token
        stops working, so its worker serves nobody until a workshop claims it and issues a
        new token. Others' stations look absent (`station-not-found`)."""
        async with self._session_factory() as session, session.begin():
            station = await self._held_by(session, workshop_id, station_id)
            station.workshop_id, station.token_digest = None, None

    async def provision(self, station_id: str, name: str) -> str:
        """A station no workshop has claimed yet, with a new token for its worker (a station
        that exists keeps its workshop and gets a new token); `station-id-invalid` for an id
        that breaks `STATION_ID_PATTERN`."""
        check_station_id(station_id)
        async with self._session_factory() as session, session.begin():
            if await session.get(Station, station_id) is None:
                session.add(
                    Station(
                        id=station_id, workshop_id=None, name=name, created_at=datetime.now(UTC)
                    )
                )
        return await self.replace_token(station_id)

    async def replace_token(self, station_id: str) -> str:
        """A new token for the station (only its digest is stored); the old one stops working."""
        token = new_token()
        async with self._session_factory() as session, session.begin():
            missing = StationNotFound("no station with this id", field="station_id")
            station = await get_or_raise(session, Station, station_id, missing)
            station.token_digest = hash_token(token)
        return token

    @staticmethod
    async def _held_by(session: AsyncSession, workshop_id: str, station_id: str) -> Station:
        station = await session.get(Station, station_id, with_for_update=True)
        if station is None or station.workshop_id is None or station.workshop_id != workshop_id:
            raise StationNotFound("no station with this id", field="station_id")
        return station

    async def by_token(self, token: str) -> Station | None:
        """The station whose current token this is."""
        async with reading(self._session_factory) as session:
            return await session.scalar(
                select(Station).where(Station.token_digest == hash_token(token))
            )

    async def note_poll(self, station_id: str, at: datetime) -> None:
        """The station gateway took a poll of the station's worker at `at` (never moved back)."""
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(Station)
                .where(
                    Station.id == station_id,
                    or_(Station.last_polled_at.is_(None), Station.last_polled_at < at),
                )
                .values(last_polled_at=at)
            )
