"""Liveness and readiness for load balancers and `make dev`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from web.deps import ResourcesDep

router = APIRouter(prefix="/health", tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class DependencyCheck(BaseModel):
    ok: bool
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    database: DependencyCheck
    temporal: DependencyCheck


@router.get("/live", response_model=Live)
async def live() -> Live:
    """The process is up and serving requests."""
    return Live()


async def _check_database(resources: ResourcesDep) -> DependencyCheck:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), resources.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready"; the type names it
        return DependencyCheck(ok=False, error=f"{type(error).__name__}: {error}"[:300])
    return DependencyCheck(ok=True)


async def _check_temporal(resources: ResourcesDep) -> DependencyCheck:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await resources.temporal.service_client.check_health(
                timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
            )
    except Exception as error:
        return DependencyCheck(ok=False, error=f"{type(error).__name__}: {error}"[:300])
    return DependencyCheck(ok=True)


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is down; it is named"}},
)
async def ready(resources: ResourcesDep) -> JSONResponse:
    """Ready when both the database and Temporal answer; 503 names the one that does not."""
    database, temporal = await asyncio.gather(
        _check_database(resources), _check_temporal(resources)
    )
    is_ready = database.ok and temporal.ok
    body = Readiness(
        status="ready" if is_ready else "unavailable", database=database, temporal=temporal
    )
    return JSONResponse(body.model_dump(), status_code=200 if is_ready else 503)
