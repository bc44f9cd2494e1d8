"""The station worker: the vehicle activities of one workshop PC, on its queue `station-<id>`.

It imports nothing from the portal (`db/`, `api/`) and holds no secret but its own station
token: packages and frame logs travel over the portal's HTTP API (`station.portal_files`).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from station.key_reader import KeyReaderActivities
from station.portal_files import PortalFiles
from station.programming import ProgrammingStationActivities
from station.service_booklet import ServiceBookletStation, VehicleServiceActivities


@dataclass
class StationDependencies:
    """What a station's hardware activities are given: its car and where files live."""

    station_id: str
    vehicle_url: str
    packages_dir: Path
    traces_dir: Path
    portal: PortalFiles | None = None  # a station on another machine than the portal
    key_reader_backend: Any = None  # the pyusb backend; None: libusb as found


def service_booklet(deps: StationDependencies) -> ServiceBookletStation:
    """The KeyReader and the vehicle link of the service booklet."""
    return ServiceBookletStation(
        KeyReaderActivities(deps.station_id, deps.key_reader_backend),
        VehicleServiceActivities(deps.station_id, deps.vehicle_url),
    )


def station_activities(deps: StationDependencies) -> Sequence[Callable[..., Any]]:
    """The station's hardware activities, each the implementation of a stub in contracts/."""
    programming = ProgrammingStationActivities(
        deps.station_id, deps.vehicle_url, deps.packages_dir, deps.traces_dir, deps.portal
    )
    return [
        programming.identify_vehicle,
        programming.prepare_ecu,
        programming.program_segment,
        programming.program_ecu,
        programming.finish_ecu,
        programming.end_session_link,
        *service_booklet(deps).activities(),
    ]


def station_worker(client: Client, deps: StationDependencies, task_queue: str) -> Worker:
    """Hardware activities only, on the queue of the station wired to the car."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=station_activities(deps),
        # Vehicle I/O blocks; one ECU transfer at a time per thread: a session's parallel lanes
        # (4 by default) and the steps of the whole car (identify, end) beside them.
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=6),
        max_concurrent_activities=6,
        # Send segment progress to the server every second: after a crash, at most about a
        # second of transfer is sent again.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
    )
