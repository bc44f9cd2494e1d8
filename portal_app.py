"""The served portal app: the JSON API and the workshop console composed into one FastAPI app.

`uvicorn portal_app:create_app --factory` serves it. Neither `api/` nor `console/` imports the
other: both call the use cases of `application/` through the shared HTTP plumbing of `web/`,
and this module is the one place that puts them together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.app import DESCRIPTION, install_api
from api.metrics import install_metrics
from application.resources import AppResources
from console.app import install_console
from db.engine import create_engine, create_session_factory
from observability import configure_logging
from settings import Settings, get_settings
from temporal_client import connect_temporal
from web.cors import CodecCors
from web.edge import install_transport_security, install_trusted_proxies
from web.problems import PROBLEM_RESPONSES, install_problem_handlers


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """Build the portal app. Tests pass their own settings and Temporal client; production
    reads `AOS_*`."""
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
    install_api(app, settings)
    install_console(app)  # the workshop console's pages, under /console/
    install_transport_security(app, settings)
    install_trusted_proxies(app, settings)  # last: it runs first, before every other middleware
    return app
