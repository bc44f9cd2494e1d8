"""Workshop stations as the service booklet's pages offer them."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel

from application.resources import AppResources
from application.workflow_calls import station_status
from db.models import User
from db.stations import StationRepository
from domain.accounts import Role

# --- the stations to choose from (the service booklet) -------------------------------------------


class StationChoice(BaseModel):
    """A station to choose for a key read or an entry, with whether its worker polls."""

    station_id: str
    name: str
    online: bool | None
    last_seen: datetime | None


async def stations_to_choose(resources: AppResources, caller: User) -> list[StationChoice]:
    """The caller's workshop stations (administrators: all), each with its poller check."""
    workshop_id = None if caller.role == Role.ADMINISTRATOR else caller.workshop_id
    found = await StationRepository(resources.session_factory).listed(workshop_id)
    # One question to Temporal per station, asked together rather than one after another.
    statuses = await asyncio.gather(
        *(station_status(resources.temporal, resources.settings, s.id) for s in found)
    )
    return [
        StationChoice(station_id=s.id, name=s.name, online=st.online, last_seen=st.last_seen)
        for s, st in zip(found, statuses, strict=True)
    ]
