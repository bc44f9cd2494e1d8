"""What a vehicle key holds (Dutch: *sleutelgegevens*): :class:`KeyData`.

The car writes its current state into the key's transponder memory: VIN, mileage, paint code,
production date, the date it last wrote the key, the key's number and its condition-based-service
(CBS) items by code (:data:`CBS_TYPES`). This module is that content and its rules;
:mod:`domain.key_data_block` is the binary block a KeyReader returns, which it parses into
:class:`KeyData` and builds again, byte for byte.

This module is pure: no I/O; the only project import is :mod:`domain.vin`.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.vin import VinStr

__all__ = [
    "CBS_TYPES",
    "COLOUR_CODE_SIZE",
    "MAX_CBS_ITEMS",
    "CbsItem",
    "CbsStatus",
    "KeyData",
    "cbs_code_for",
]

# What fits in a key (the block's fields, see `domain.key_data_block`)
MAX_CBS_ITEMS = 32
COLOUR_CODE_SIZE = 4
_U32_MAX = 0xFFFF_FFFF
_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1

CBS_TYPES: dict[int, tuple[str, str]] = {
    0x01: ("engine_oil", "Engine oil"),
    0x02: ("front_brakes", "Front brake pads"),
    0x03: ("rear_brakes", "Rear brake pads"),
    0x04: ("brake_fluid", "Brake fluid"),
    0x05: ("vehicle_check", "Vehicle check"),
    0x06: ("microfilter", "Microfilter"),
    0x07: ("spark_plugs", "Spark plugs"),
    0x08: ("statutory_inspection", "Statutory vehicle inspection"),
    0x09: ("emissions_inspection", "Exhaust emissions inspection"),
    0x0A: ("coolant", "Coolant"),
    0x0B: ("diesel_particulate_filter", "Diesel particulate filter"),
    0x0C: ("high_voltage_battery_check", "High-voltage battery check"),
}
"""CBS codes as stored in the key: code -> (stable id, English label).

Codes not in this table are kept as they are (a newer car may know more)."""

_CBS_CODE_BY_ID = {slug: code for code, (slug, _label) in CBS_TYPES.items()}


def cbs_code_for(cbs_id: str) -> int:
    """Return the key code of a CBS id such as ``"engine_oil"``; raises ``KeyError``."""
    return _CBS_CODE_BY_ID[cbs_id]


class CbsStatus(IntEnum):
    """Traffic-light state of one service item as the car computed it."""

    OK = 0
    DUE_SOON = 1
    OVERDUE = 2


class CbsItem(BaseModel):
    """One condition-based-service item: when and/or in how many km it is due."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Annotated[int, Field(ge=1, le=255)]
    status: CbsStatus
    due_date: date | None = None
    remaining_km: Annotated[int, Field(ge=_I32_MIN, le=_I32_MAX)] | None = None

    @model_validator(mode="after")
    def _needs_date_or_distance(self) -> Self:
        if self.due_date is None and self.remaining_km is None:
            raise ValueError("a CBS item needs a due date, a remaining distance or both")
        return self

    @property
    def cbs_id(self) -> str:
        """Stable id such as ``"engine_oil"``; ``"cbs_0xNN"`` for codes not in the table."""
        known = CBS_TYPES.get(self.code)
        return known[0] if known else f"cbs_0x{self.code:02x}"

    @property
    def label(self) -> str:
        """English label; ``"Service item 0xNN"`` for codes not in the table."""
        known = CBS_TYPES.get(self.code)
        return known[1] if known else f"Service item 0x{self.code:02x}"


class KeyData(BaseModel):
    """The content of a key data block (version 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vin: VinStr
    mileage_km: Annotated[int, Field(ge=0, le=_U32_MAX)]
    colour_code: Annotated[
        str, Field(min_length=1, max_length=COLOUR_CODE_SIZE, pattern=r"^[A-Z0-9]+$")
    ]
    production_date: date
    written_on: date
    key_number: Annotated[int, Field(ge=0, le=255)] = 0
    cbs: tuple[CbsItem, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.cbs) > MAX_CBS_ITEMS:
            raise ValueError(f"at most {MAX_CBS_ITEMS} CBS items fit in a key, got {len(self.cbs)}")
        codes = [item.code for item in self.cbs]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"CBS codes appear more than once: {duplicates}")
        if self.written_on < self.production_date:
            raise ValueError(
                f"key written on {self.written_on} before the vehicle was produced "
                f"on {self.production_date}"
            )
        return self

    def cbs_item(self, cbs_id: str) -> CbsItem | None:
        """The item with this id (``"engine_oil"``, ...), or ``None``."""
        return next((item for item in self.cbs if item.cbs_id == cbs_id), None)
