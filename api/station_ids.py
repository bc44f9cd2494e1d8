"""The station id as the API takes it, in a path or a body: one rule
(`domain.service_history.STATION_ID_PATTERN`), declared in the schema of every operation that
takes one, so a client's generator or validator knows it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from application.stations import STATION_ID_DESCRIPTION
from application.stations import StationIdField as StationIdField
from domain.service_history import STATION_ID_PATTERN

StationIdPath = Annotated[
    str,
    Path(
        pattern=STATION_ID_PATTERN, min_length=3, max_length=32, description=STATION_ID_DESCRIPTION
    ),
]
"""A `{station_id}` path parameter. (`StationIdField`, for a body, is the use cases' own.)"""
