"""The station side of the service booklet: its KeyReader, and writing the performed CBS items
into the instrument cluster over UDS (`hw.station_link`) and reading them back.

CBS items are identified by the codes of the key data (`domain.key_data.CBS_TYPES`) in the
instrument cluster too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio.exceptions import ApplicationError

from contracts import service_history as contract
from contracts.service_history import VehicleWriteResult, WriteServiceItemsInput
from contracts.stubs import implements
from domain.service_history import reset_service_items
from hw import protocol as P
from hw.errors import VehicleLinkError
from hw.station_link import open_station_link
from station.key_reader import KeyReaderActivities


class VehicleServiceActivities:
    """The station's vehicle link for the service booklet."""

    def __init__(self, station_id: str, vehicle_url: str) -> None:
        self.station_id = station_id
        self.vehicle_url = vehicle_url

    @implements(contract.write_service_items_to_vehicle)
    async def write_service_items_to_vehicle(
        self, request: WriteServiceItemsInput
    ) -> VehicleWriteResult:
        """Check the VIN, reset the performed CBS items in the instrument cluster, read back.

        Link failures leave as ApplicationErrors typed by `hw.errors` codes, retryable only
        when the link says they are transient (a different car is never retried).
        """
        try:
            return await asyncio.to_thread(self._write, request)
        except VehicleLinkError as error:
            raise ApplicationError(
                str(error), error.details(), type=error.code, non_retryable=not error.transient
            ) from error

    def _write(self, request: WriteServiceItemsInput) -> VehicleWriteResult:
        with open_station_link(self.vehicle_url) as link:
            link.verify_vin(request.vin)
            before = [P.service_item_from_wire(item) for item in link.read_service_items()]
            wanted = reset_service_items(before, request.cbs_items, request.service_date)
            link.write_service_items([P.service_item_to_wire(item) for item in wanted])
            after = [P.service_item_from_wire(item) for item in link.read_service_items()]
        if after != wanted:
            raise ApplicationError(
                "the instrument cluster holds other service items than were written",
                type="ServiceItemsReadBackMismatch",
            )
        return VehicleWriteResult(vin=request.vin, items_before=before, items_after=after)


@dataclass
class ServiceBookletStation:
    key_reader: KeyReaderActivities
    vehicle: VehicleServiceActivities

    def activities(self) -> list[Callable[..., Any]]:
        return [self.key_reader.read_key_at_station, self.vehicle.write_service_items_to_vehicle]
