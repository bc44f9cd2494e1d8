"""The console's page routers, one module per part of the console; `console.app` mounts each
router listed in `PAGE_ROUTERS`."""

from __future__ import annotations

from fastapi import APIRouter

from console.routes import access, account, payments, registration, sign_in
from console.routes import operators as operator_pages
from console.routes import programming as programming_pages
from console.routes import service_booklet as service_booklet_pages
from console.routes import service_booklet_entries as service_booklet_entry_pages
from console.routes import stations as station_pages
from console.routes import technical_information as technical_information_pages
from console.routes import teleservices as teleservice_pages

PAGE_ROUTERS: list[APIRouter] = [
    sign_in.router,
    account.router,
    access.router,
    payments.router,
    registration.router,
    teleservice_pages.router,
    teleservice_pages.operator_router,
    service_booklet_pages.router,
    service_booklet_entry_pages.router,
    programming_pages.router,
    station_pages.router,
    technical_information_pages.router,
    operator_pages.router,
]
