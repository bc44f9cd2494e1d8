"""The JSON API's routes: `install_api(app, settings)`, called by `portal_app.create_app`,
which composes the API and the console into the one served app."""

from __future__ import annotations

from fastapi import FastAPI

from api.routes import (
    access,
    admin,
    auth,
    codec,
    flows,
    health,
    payments,
    programming,
    registrations,
    station_files,
    technical_information,
    teleservices,
)
from api.routes.service_entries import router as service_entries_router
from api.routes.stations import router as stations_router
from api.routes.vehicles import router as vehicles_router
from api.uploads import declare_upload_bounds
from domain.message_rate import MessageRate
from settings import Settings
from web.deps import DEPENDENCY_PROBLEMS
from web.problems import declare_route_problems

DESCRIPTION = """
Durable workflows of an automotive after-sales portal: workshop registration, time-boxed
access, the digital service history and ECU programming. Every error is an RFC 9457 problem
document (`application/problem+json`) with a stable `type`.
"""


def install_api(app: FastAPI, settings: Settings) -> None:
    """The API's routers, each documenting the refusals of the dependencies it uses, and the
    upload bounds in the OpenAPI."""
    for router in (
        health.router,
        auth.router,
        registrations.router,
        admin.router,
        programming.router,
        flows.router,
        codec.router,
        access.router,
        payments.router,
        vehicles_router,
        stations_router,
        station_files.router,
        service_entries_router,
        teleservices.router,
        technical_information.router,
    ):
        declare_route_problems(router, DEPENDENCY_PROBLEMS)
        app.include_router(router)
    declare_upload_bounds(app, settings)
    app.state.message_rate = MessageRate(settings.signed_messages_per_minute)
