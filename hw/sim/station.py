"""A station's simulated car and KeyReader, wired in by the dev and test entry points only.

`worker.py station --vehicle sim://` (and so `make dev`) and the tests call these; production
code never imports `hw.sim`. The station code itself is the same with a real car: it gets a
vehicle URL and a pyusb backend, and cannot tell them apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from domain.demo_vehicles import demo_key_blob, demo_vehicle
from domain.service_history import CBS_CODES, VehicleServiceItem
from hw import protocol as P
from hw.sim import registry
from hw.sim.config import default_vehicle_config
from hw.sim.keyreader_backend import SimulatedKeyReaderBackend
from hw.sim.vehicle import SimVehicle
from hw.station_link.transports import install_simulated_cars
from hw.vehicle_url import VehicleUrl, parse_vehicle_url

DEMO_KEY_VIN = "WBA8E5105FK731548"
"""The demo vehicle (the BMW 320d of the KaSIO guide's screens) whose key lies in a simulated
station's KeyReader, and whose VIN its simulated car has."""


class RegistryCars:
    """Opens `sim://` links: a named car from `hw.sim.registry`, shared in this process and
    kept after the link closes, or a fresh private one closed with the link."""

    def attach(self, url: VehicleUrl, cleanup: list[Callable[[], None]]) -> str:
        if url.name is not None:
            vehicle = registry.get_or_create(url.name, state_file=url.state_file)
        else:
            vehicle = SimVehicle()
            cleanup.append(vehicle.close)
        channel = f"sim-{url.name or 'anon'}-{uuid.uuid4().hex[:12]}"
        server = vehicle.attach_can(channel, fd=url.fd)
        cleanup.insert(0, lambda: vehicle.detach(server))
        return channel


def install() -> None:
    """Let `sim://` vehicle URLs reach simulated cars in this process."""
    install_simulated_cars(RegistryCars())


def station_car_url(station_id: str, vehicle_url: str = "sim://") -> str:
    """A bare `sim://` becomes the station's own named car, `sim://?name=station-<id>`, shared
    by all its activities; any other URL is kept."""
    if vehicle_url.rstrip("/") == "sim:":
        return f"sim://?name=station-{station_id}"
    return vehicle_url


def prepare_car(vehicle_url: str, vin: str = DEMO_KEY_VIN) -> None:
    """Create the named simulated car with a demo vehicle's VIN and its CBS items in the
    instrument cluster, unless a car of that name exists already (then it is left as it is)."""
    name = parse_vehicle_url(vehicle_url).name
    if name is None:
        return
    try:
        registry.get(name)
        return
    except KeyError:
        pass
    car = registry.get_or_create(name, config=default_vehicle_config(vin=vin))
    items = [
        VehicleServiceItem(
            code=CBS_CODES[item.id],
            status=item.status,
            due_date=item.due_date,
            remaining_km=item.remaining_km,
        )
        for item in demo_vehicle(vin).cbs
    ]
    car.ecu(P.INSTRUMENT_CLUSTER).service_items = P.encode_service_items(
        [P.service_item_to_wire(item) for item in items]
    )


def key_reader(vin: str = DEMO_KEY_VIN) -> SimulatedKeyReaderBackend:
    """A simulated pyusb KeyReader with the key of demo vehicle `vin` inserted."""
    backend = SimulatedKeyReaderBackend()
    backend.insert_key(demo_key_blob(vin))
    return backend


def simulated_station(station_id: str, vehicle_url: str = "sim://") -> tuple[str, Any]:
    """Everything a `sim://` station needs: the simulator installed, its car named and
    prepared; the car's URL and the KeyReader backend to hand to the station worker."""
    install()
    url = station_car_url(station_id, vehicle_url)
    prepare_car(url)
    return url, key_reader()
