"""The invented demo vehicles (`domain/data/demo_vehicles.json`): their records for the
database seed, and the data their keys carry for the simulated KeyReader.

Pure: the file ships with the package and is read once.
"""

from __future__ import annotations

import functools
import json
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from domain.key_data import CBS_TYPES, CbsItem, CbsStatus, KeyData
from domain.key_data_block import build_key_data
from domain.vin import VinStr, validate_vin

DEMO_VEHICLES_RESOURCE = ("domain", "data/demo_vehicles.json")
"""Package and path of the demo vehicle file (read it with :func:`importlib.resources`)."""


class DemoTeleservices(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    teleservice_eligible: bool
    connected_drive_contract: bool
    own_dealer: bool
    service_history_via_teleservices: bool
    remote_key_read_eligible: bool


class DemoTechnicalAction(BaseModel):
    """A campaign or recall (KaSIO "technische actie")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: Literal["recall", "campaign"]
    title: str
    status: Literal["open", "done"]
    completed_on: date | None = None

    @model_validator(mode="after")
    def _done_has_date(self) -> Self:
        if (self.status == "done") != (self.completed_on is not None):
            raise ValueError("a technical action has a completion date exactly when it is done")
        return self


_STATUS_BY_NAME = {"ok": CbsStatus.OK, "due_soon": CbsStatus.DUE_SOON, "overdue": CbsStatus.OVERDUE}


class DemoCbsItem(BaseModel):
    """A CBS item the vehicle supports, with its current state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: int
    id: str
    status: Literal["ok", "due_soon", "overdue"]
    due_date: date | None = None
    remaining_km: int | None = None

    @model_validator(mode="after")
    def _code_matches_id(self) -> Self:
        known = CBS_TYPES.get(self.code)
        if known is None or known[0] != self.id:
            raise ValueError(f"CBS code {self.code} does not belong to id {self.id!r}")
        return self

    def to_cbs_item(self) -> CbsItem:
        return CbsItem(
            code=self.code,
            status=_STATUS_BY_NAME[self.status],
            due_date=self.due_date,
            remaining_km=self.remaining_km,
        )


class DemoVehicle(BaseModel):
    """One invented vehicle of ``demo_vehicles.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vin: VinStr
    brand: Literal["BMW", "MINI", "BMW Motorrad", "Rolls-Royce"]
    model: str
    series: str
    type_code: str
    colour_code: str
    colour: str
    upholstery_code: str | None
    upholstery: str
    production_date: date
    mileage_km: int
    key_number: int
    key_written_on: date
    teleservices: DemoTeleservices
    technical_actions: tuple[DemoTechnicalAction, ...]
    cbs: tuple[DemoCbsItem, ...]

    def key_data(self) -> KeyData:
        """The data the vehicle's key carries."""
        return KeyData(
            vin=self.vin,
            mileage_km=self.mileage_km,
            colour_code=self.colour_code,
            production_date=self.production_date,
            written_on=self.key_written_on,
            key_number=self.key_number,
            cbs=tuple(item.to_cbs_item() for item in self.cbs),
        )


def _demo_vehicles_file() -> Traversable:
    package, path = DEMO_VEHICLES_RESOURCE
    return resources.files(package).joinpath(path)


@functools.cache
def load_demo_vehicles() -> tuple[DemoVehicle, ...]:
    """All demo vehicles (the file is read once)."""
    document: dict[str, Any] = json.loads(_demo_vehicles_file().read_text(encoding="utf-8"))
    return tuple(DemoVehicle.model_validate(v) for v in document["vehicles"])


def demo_vehicle(vin: str) -> DemoVehicle:
    """The demo vehicle with this VIN; raises ``LookupError``."""
    wanted = validate_vin(vin)
    for vehicle in load_demo_vehicles():
        if vehicle.vin == wanted:
            return vehicle
    raise LookupError(f"no demo vehicle has the VIN {wanted}")


def demo_key_data(vin: str) -> KeyData:
    """The :class:`KeyData` of a demo vehicle's key."""
    return demo_vehicle(vin).key_data()


def demo_key_blob(vin: str) -> bytes:
    """The binary key block of a demo vehicle, ready for :meth:`insert_key`."""
    return build_key_data(demo_key_data(vin))
