"""The FastAPI application factory. `uvicorn api.app:create_app --factory` serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.cors import CodecCors
from api.deps import DEPENDENCY_PROBLEMS, AppResources
from api.edge import install_transport_security, install_trusted_proxies
from api.metrics import install_metrics
from api.problems import (
    PROBLEM_RESPONSES,
    declare_route_problems,
    install_problem_handlers,
)
from api.routes import (
    access,
    admin,
    auth,
    codec,
    flows,
    health,
    programming,
    registrations,
    station_files,
)
from api.routes.service_entries import router as service_entries_router
from api.routes.stations import router as stations_router
from api.routes.vehicles import router as vehicles_router
from api.uploads import declare_upload_bounds
from console.app import install_console
from db.engine import create_engine, create_session_factory
from observability import configure_logging
from settings import Settings, get_settings
from temporal_client import connect_temporal

DESCRIPTION = """
Durable workflows of an automotive after-sales portal: workshop registration, time-boxed
access, the digital service history and ECU programming. Every error is an RFC 9457 problem
document (`application/problem+json`) with a stable `type`.
"""


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """Build the API. Tests pass their own settings and Temporal client; production reads `AOS_*`."""
    if settings is None:  # a real process (uvicorn), not a test: JSON logs
        settings = get_settings().with_portal_secrets()
        configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        # Lazy: the API starts and answers /health/ready with 503 while Temporal is down.
        client = temporal or await connect_temporal(settings, lazy=True)
        app.state.resources = AppResources(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            temporal=client,
        )
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="AOS workflow engine",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
    )
    install_problem_handlers(app)
    # The Temporal Web UI decodes payloads from another origin; only /codec/ answers it.
    app.add_middleware(CodecCors, origins=settings.temporal_ui_origins)
    install_metrics(app)
    for router in (
        health.router,
        auth.router,
        registrations.router,
        admin.router,
        programming.router,
        flows.router,
        codec.router,
        access.router,
        vehicles_router,
        stations_router,
        station_files.router,
        service_entries_router,
    ):
        declare_route_problems(router, DEPENDENCY_PROBLEMS)
        app.include_router(router)
    install_console(app)  # the workshop console's pages, under /console/
    declare_upload_bounds(app, settings)
    install_transport_security(app, settings)
    install_trusted_proxies(app, settings)  # last: it runs first, before every other middleware
    return app
