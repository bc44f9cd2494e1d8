"""Activities that run on a workshop station's worker (task queue `station-<id>`), next to the car."""

from __future__ import annotations

import platform
import socket
from datetime import UTC, datetime
from importlib.metadata import version
from urllib.parse import urlsplit

from pydantic import BaseModel
from temporalio import activity


class DescribeStationInput(BaseModel):
    """Empty for now; a model so fields can be added without breaking running workflows."""


class StationDescription(BaseModel):
    station_id: str
    vehicle_interface: str  # the URL scheme (sim, can, doip); never the address itself
    host: str
    software_version: str
    python_version: str
    started_at: datetime


class StationActivities:
    """Hardware-side activities of one station; the vehicle link is injected by the worker."""

    def __init__(self, station_id: str, vehicle_url: str) -> None:
        self.station_id = station_id
        self.vehicle_url = vehicle_url
        self.started_at = datetime.now(UTC)

    @activity.defn
    async def describe_station(self, request: DescribeStationInput) -> StationDescription:
        """What this station runs: operators see it next to its online state."""
        return StationDescription(
            station_id=self.station_id,
            vehicle_interface=urlsplit(self.vehicle_url).scheme,
            host=socket.gethostname(),
            software_version=version("aos-workflows"),
            python_version=platform.python_version(),
            started_at=self.started_at,
        )
