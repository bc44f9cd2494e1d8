"""Stations: the workshop PCs wired to cars, and their own credentials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.credentials import hash_token, new_token
from db.models import Station, Workshop
from domain.errors import NotFound
from domain.service_history import StationIdTaken, StationNotFound


class StationRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def of_workshop(self, station_id: str, workshop_id: str | None) -> Station:
        """The station if it belongs to `workshop_id`; `station-not-found` otherwise, so
        another workshop's station looks exactly like an unknown one."""
        async with self._session_factory() as session:
            station = await session.get(Station, station_id)
        if station is None or station.workshop_id is None or station.workshop_id != workshop_id:
            raise StationNotFound("no station with this id", field="station_id")
        return station

    async def listed(self, workshop_id: str | None) -> Sequence[Station]:
        """The workshop's stations by id; None: every workshop's."""
        query = select(Station).order_by(Station.id)
        if workshop_id is not None:
            query = query.where(Station.workshop_id == workshop_id)
        async with self._session_factory() as session:
            return (await session.scalars(query)).all()

    async def register(self, workshop_id: str, station_id: str, name: str) -> Station:
        """Register a station of the workshop; the workshop's own id again renames it, an id of
        another workshop is `station-id-taken`. A provisioned station is claimed, and its
        worker (already polling with its token) starts serving the workshop."""
        taken = StationIdTaken(f"station id {station_id} is registered already", field="station_id")
        try:
            async with self._session_factory() as session, session.begin():
                if await session.get(Workshop, workshop_id) is None:
                    raise NotFound("no workshop with this id")
                station = await session.get(Station, station_id)
                if station is None:
                    station = Station(
                        id=station_id,
                        workshop_id=workshop_id,
                        name=name,
                        created_at=datetime.now(UTC),
                    )
                    session.add(station)
                elif station.workshop_id not in (None, workshop_id):
                    raise taken
                else:
                    station.workshop_id, station.name = workshop_id, name
        except IntegrityError:  # a concurrent registration of the same id
            raise taken from None
        return station

    async def provision(self, station_id: str, name: str) -> str:
        """A station no workshop has claimed yet, with a new token for its worker (a station
        that exists keeps its workshop and gets a new token)."""
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
            station = await session.get(Station, station_id)
            if station is None:
                raise StationNotFound("no station with this id", field="station_id")
            station.token_digest = hash_token(token)
        return token

    async def by_token(self, token: str) -> Station | None:
        """The station whose current token this is."""
        async with self._session_factory() as session:
            return await session.scalar(
                select(Station).where(Station.token_digest == hash_token(token))
            )
