"""The station id as the API takes it, in a path or a body: one rule
(`domain.service_history.STATION_ID_PATTERN`), declared in the schema of every operation that
takes one, so a client's generator or validator knows it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

from domain.service_history import STATION_ID_PATTERN, STATION_ID_RULE

_DESCRIPTION = f"The station's id (its worker's --station-id): {STATION_ID_RULE}"

StationIdPath = Annotated[
    str, Path(pattern=STATION_ID_PATTERN, min_length=3, max_length=32, description=_DESCRIPTION)
]
"""A `{station_id}` path parameter."""

StationIdField = Annotated[
    str, Field(pattern=STATION_ID_PATTERN, min_length=3, max_length=32, description=_DESCRIPTION)
]
"""A `station_id` field of a request body."""
