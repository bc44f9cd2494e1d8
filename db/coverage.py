"""Reading a workshop's coverage: the windows of its tickets, per service or all at once.

The access check of every request to a paid service reads these, so the statement is built
once (see `db.service_history.VEHICLE_FACTS`).
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.access import Ticket
from domain.catalogue import Service
from domain.entitlement import CoverageWindow

COVERAGE_WINDOWS = select(Ticket.starts_at, Ticket.ends_at).where(
    Ticket.workshop_id == bindparam("workshop_id"), Ticket.service == bindparam("service")
)


async def coverage_windows(
    session: AsyncSession, workshop_id: str, service: Service
) -> list[CoverageWindow]:
    """The windows of the workshop's tickets for `service`."""
    rows = await session.execute(
        COVERAGE_WINDOWS, {"workshop_id": workshop_id, "service": service.value}
    )
    return [CoverageWindow(starts_at, ends_at) for starts_at, ends_at in rows]


async def coverage_windows_by_service(
    session: AsyncSession, workshop_id: str
) -> dict[Service, list[CoverageWindow]]:
    """Every service's ticket windows, in one read."""
    windows: dict[Service, list[CoverageWindow]] = {service: [] for service in Service}
    query = select(Ticket.service, Ticket.starts_at, Ticket.ends_at)
    for service, starts_at, ends_at in await session.execute(
        query.where(Ticket.workshop_id == workshop_id)
    ):
        windows[Service(service)].append(CoverageWindow(starts_at, ends_at))
    return windows
