"""Workshop stations, key reads and the key table.

A station is a workshop PC wired to cars, whose worker serves `station-<id>`. Owners register
their stations (`POST /workshops/{workshop_id}/stations`); a station id is global and belongs
to one workshop: another workshop's station answers 404. The embedded mode starts the station
worker `demo-1` but no workshop; the first owner who registers `demo-1` owns it.

A key read (`POST /stations/{station_id}/key-reads`) reads the key in the station's KeyReader
and stores it in the workshop's key table; it needs a `service_history` ticket.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.key_reads import KeyRecordView
from api.auth import CurrentUser, ensure_owner, ensure_workshop_access
from api.deps import ResourcesDep, SettingsDep, TemporalDep
from api.routes.vehicles import ServiceHistoryAccess
from db.models import KeyRecord, Station, Workshop
from domain.accounts import Role
from domain.errors import NotFound
from domain.service_history import STATION_ID_PATTERN, StationIdTaken, StationNotFound
from settings import Settings
from workflows.key_read import KeyReadInput, KeyReadWorkflow, key_read_workflow_id

router = APIRouter(tags=["service history"])


class StationRegistration(BaseModel):
    station_id: str = Field(pattern=STATION_ID_PATTERN, description="The worker's --station-id")
    name: str = Field(min_length=1, max_length=200)


class StationView(BaseModel):
    station_id: str
    workshop_id: str
    name: str
    task_queue: str
    created_at: datetime


async def station_of_workshop(
    resources: ResourcesDep, station_id: str, workshop_id: str | None
) -> Station:
    """The station if it belongs to `workshop_id`; 404 otherwise (existence does not leak)."""
    async with resources.session_factory() as session:
        station = await session.get(Station, station_id)
    if station is None or station.workshop_id != workshop_id:
        raise StationNotFound("no station with this id", field="station_id")
    return station


class StationStatus(BaseModel):
    station_id: str
    online: bool | None = Field(description="None when the Temporal server cannot tell")
    last_seen: datetime | None


# A worker that polled within this window counts as online.
POLLER_FRESHNESS = timedelta(minutes=2)


async def station_status(temporal: Client, settings: Settings, station_id: str) -> StationStatus:
    """Online when the station's worker polled its activity queue recently (Temporal knows)."""
    try:
        response = await temporal.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=temporal.namespace,
                task_queue=TaskQueue(name=settings.station_task_queue(station_id)),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        # Temporal's time-skipping test server cannot tell; real servers always can.
        return StationStatus(station_id=station_id, online=None, last_seen=None)
    seen = [poller.last_access_time.ToDatetime(tzinfo=UTC) for poller in response.pollers]
    last_seen = max(seen) if seen else None
    online = last_seen is not None and datetime.now(UTC) - last_seen < POLLER_FRESHNESS
    return StationStatus(station_id=station_id, online=online, last_seen=last_seen)


def _view(station: Station, settings: SettingsDep) -> StationView:
    return StationView(
        station_id=station.id,
        workshop_id=station.workshop_id,
        name=station.name,
        task_queue=settings.station_task_queue(station.id),
        created_at=station.created_at,
    )


@router.post("/workshops/{workshop_id}/stations", status_code=201, response_model=StationView)
async def register_station(
    workshop_id: str,
    body: StationRegistration,
    user: CurrentUser,
    resources: ResourcesDep,
    settings: SettingsDep,
) -> StationView:
    """Owners: register a station of the workshop. Re-registering your own id renames it; an
    id registered by another workshop is 409 `station-id-taken`."""
    ensure_owner(user, workshop_id)
    try:
        async with resources.session_factory() as session, session.begin():
            if await session.get(Workshop, workshop_id) is None:
                raise NotFound("no workshop with this id")
            station = await session.get(Station, body.station_id)
            if station is None:
                station = Station(
                    id=body.station_id,
                    workshop_id=workshop_id,
                    name=body.name,
                    created_at=datetime.now(UTC),
                )
                session.add(station)
            elif station.workshop_id != workshop_id:
                raise StationIdTaken(
                    f"station id {body.station_id} is registered already", field="station_id"
                )
            else:
                station.name = body.name
    except IntegrityError:  # a concurrent registration of the same id
        raise StationIdTaken(
            f"station id {body.station_id} is registered already", field="station_id"
        ) from None
    return _view(station, settings)


@router.get("/workshops/{workshop_id}/stations", response_model=list[StationView])
async def stations(
    workshop_id: str, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep
) -> list[StationView]:
    ensure_workshop_access(user, workshop_id)
    async with resources.session_factory() as session:
        found = (
            await session.scalars(
                select(Station).where(Station.workshop_id == workshop_id).order_by(Station.id)
            )
        ).all()
    return [_view(s, settings) for s in found]


class StationWithStatus(StationView):
    online: bool | None
    last_seen: datetime | None


@router.get("/stations", response_model=list[StationWithStatus])
async def my_stations(
    user: CurrentUser, resources: ResourcesDep, temporal: TemporalDep, settings: SettingsDep
) -> list[StationWithStatus]:
    """The caller's workshop stations (administrators: all), online when their worker polls."""
    query = select(Station).order_by(Station.id)
    if user.role != Role.ADMINISTRATOR:
        query = query.where(Station.workshop_id == user.workshop_id)
    async with resources.session_factory() as session:
        found = (await session.scalars(query)).all()
    statuses = [await station_status(temporal, settings, s.id) for s in found]
    return [
        StationWithStatus(
            **_view(s, settings).model_dump(), online=st.online, last_seen=st.last_seen
        )
        for s, st in zip(found, statuses, strict=True)
    ]


@router.get("/stations/{station_id}", response_model=StationWithStatus)
async def one_station(
    station_id: str,
    user: CurrentUser,
    resources: ResourcesDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StationWithStatus:
    """One of the caller's stations, with whether its worker is polling (online)."""
    station = await station_of_workshop(resources, station_id, user.workshop_id)
    status = await station_status(temporal, settings, station.id)
    return StationWithStatus(
        **_view(station, settings).model_dump(), online=status.online, last_seen=status.last_seen
    )


@router.post("/stations/{station_id}/key-reads", status_code=201, response_model=KeyRecordView)
async def read_key(
    station_id: str,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> KeyRecordView:
    """Read the key lying in the station's KeyReader into the key table.

    Refusals: 422 `key-data-corrupt` (with `reason`; nothing is stored), 409 `key-read-failed`
    (no key, no reader), 409 `station-unavailable` (the station's worker does not answer).
    """
    station = await station_of_workshop(resources, station_id, user.workshop_id)
    record: KeyRecordView = await temporal.execute_workflow(
        KeyReadWorkflow.run,
        KeyReadInput(
            workshop_id=station.workshop_id,
            station_id=station.id,
            station_task_queue=settings.station_task_queue(station.id),
            requested_by=user.id,
        ),
        id=key_read_workflow_id(str(uuid.uuid4())),
        task_queue=settings.portal_task_queue,
    )
    return record


@router.get("/workshops/{workshop_id}/keys", response_model=list[KeyRecordView])
async def key_table(
    workshop_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> list[KeyRecordView]:
    """The workshop's key table (KaSIO "Sleuteltabel"), last read first."""
    ensure_workshop_access(user, workshop_id)
    async with resources.session_factory() as session:
        found = (
            await session.scalars(
                select(KeyRecord)
                .where(KeyRecord.workshop_id == workshop_id)
                .order_by(KeyRecord.last_read_at.desc())
            )
        ).all()
    return [KeyRecordView.of(r) for r in found]
