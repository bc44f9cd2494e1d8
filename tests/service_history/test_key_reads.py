"""Key reads through the API on the dev server, with a station worker on a simulated KeyReader:
corrupt data is refused with its reason and stores nothing; a flaky read is retried; a station
that fails on its own side is a 502 `station-failed`, never the portal's own 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.errors import to_application_error
from contracts.key_reads import ReadKeyInput, StationKeyRead
from contracts.key_reads import read_key_at_station as read_key_at_station_stub
from contracts.stubs import activity_name
from db.models import KeyRecord
from domain.errors import Forbidden
from domain.service_history import KeyReadFailedProblem
from hw.keyreader import STATUS_BUSY
from hw.sim.keyreader_backend import (
    SimulatedKeyReader,
    SimulatedKeyReaderBackend,
    demo_key_blob,
)
from settings import Settings
from testkit.station_gateway import through_gateway
from tests.helpers import until_polling
from tests.service_history.conftest import (
    OTHER_VIN,
    booklet_with_reader,
    garage_with_station,
    seed,
    station_worker,
)

pytestmark = pytest.mark.usefixtures("portal_on_dev_server")


async def _key_rows(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(KeyRecord)) or 0)


async def test_corrupt_key_data_is_refused_with_the_reason_and_nothing_is_stored(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed(session_factory)
    shop, station_id = await garage_with_station(session_factory)
    reader = SimulatedKeyReaderBackend()
    blob = bytearray(demo_key_blob(OTHER_VIN))
    blob[20] ^= 0xFF  # inside the VIN: the checksum no longer matches
    reader.insert_key(bytes(blob))

    async with station_worker(
        dev_env.client, settings, station_id, booklet_with_reader(station_id, reader)
    ):
        url = f"/stations/{station_id}/key-reads"
        refused = await api_client.post(url, headers=shop.technician.headers)
        assert (refused.status_code, refused.json()["type"]) == (422, "/problems/key-data-corrupt")
        assert refused.json()["reason"] == "bad_checksum"
        assert "checksum" in refused.json()["detail"]
        assert await _key_rows(session_factory) == 0

        reader.remove_key()
        no_key = await api_client.post(url, headers=shop.technician.headers)
        assert (no_key.status_code, no_key.json()["reason"]) == (409, "no_key")

        reader.insert_key(demo_key_blob(OTHER_VIN))
        reader.fail_next_read()  # the transponder fails once: the read is tried again
        read = await api_client.post(url, headers=shop.technician.headers)
        assert read.status_code == 201, read.text
        assert (read.json()["vin"], read.json()["brand"]) == (OTHER_VIN, "BMW")
        again = await api_client.post(url, headers=shop.technician.headers)
        assert again.json()["key_record_id"] == read.json()["key_record_id"]  # the same row
    assert await _key_rows(session_factory) == 1


def _assert_station_failed(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, str] = answer.json()
    assert (problem["type"], problem["field"]) == ("/problems/station-failed", "station_id")
    return problem


class _BusyReader(SimulatedKeyReader):
    """A reader that answers every read "busy": a fault the station retries, in vain."""

    def read_block(self) -> bytes:
        self.fail_next_read(STATUS_BUSY)
        return super().read_block()


async def test_a_station_whose_retries_do_not_get_past_a_fault_is_a_502_station_failed(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # This was a 500 `workflow-failed`: the station's failure, told as the portal's own.
    shop, station_id = await garage_with_station(session_factory)
    reader = _BusyReader()
    reader.insert_key(demo_key_blob(OTHER_VIN))
    backend = SimulatedKeyReaderBackend(reader)
    async with station_worker(
        dev_env.client, settings, station_id, booklet_with_reader(station_id, backend)
    ):
        answer = await api_client.post(
            f"/stations/{station_id}/key-reads", headers=shop.technician.headers
        )
    problem = _assert_station_failed(answer)
    assert problem["station_failure"] == "KeyReadFailed", problem
    assert "busy" in problem["detail"]
    assert station_id in problem["detail"]
    assert await _key_rows(session_factory) == 0


@asynccontextmanager
async def _station_answering(
    client: Client, settings: Settings, station_id: str, failure: ApplicationError
) -> AsyncIterator[None]:
    """A station worker (through its gateway, as any station) whose key read fails with
    `failure`: a fault of its own, or a refusal it made up."""

    @activity.defn(name=activity_name(read_key_at_station_stub))
    async def read_key_at_station(request: ReadKeyInput) -> StationKeyRead:
        raise failure

    async with (
        through_gateway(client, settings, station_id) as connection,
        Worker(
            connection.client,
            task_queue=settings.station_task_queue(station_id),
            activities=[read_key_at_station],
        ),
    ):
        await until_polling(client, settings, station_id)
        yield


@pytest.mark.parametrize(
    ("failure", "station_failure"),
    [
        (
            ApplicationError("reader firmware fault", type="ReaderFirmware", non_retryable=True),
            "ReaderFirmware",
        ),
        # A station is untrusted: a refusal that is not a key read's is not passed on as one.
        (to_application_error(Forbidden("made up by the station")), "forbidden"),
    ],
    ids=["own-fault", "made-up-refusal"],
)
async def test_a_station_failing_its_read_non_retryably_is_a_502_station_failed(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    failure: ApplicationError,
    station_failure: str,
) -> None:
    shop, station_id = await garage_with_station(session_factory)
    async with _station_answering(dev_env.client, settings, station_id, failure):
        answer = await api_client.post(
            f"/stations/{station_id}/key-reads", headers=shop.technician.headers
        )
    assert _assert_station_failed(answer)["station_failure"] == station_failure


async def test_the_openapi_of_a_key_read_lists_station_failed(
    api_client: httpx.AsyncClient,
) -> None:
    schema = (await api_client.get("/openapi.json")).json()
    responses = schema["paths"]["/stations/{station_id}/key-reads"]["post"]["responses"]
    assert "/problems/station-failed" in responses["502"]["description"]
    assert "/problems/workflow-failed" not in str(responses)


async def test_a_stations_refusal_cannot_replace_the_problems_own_members(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # A key read's own refusal, whose facts name a problem's members: they stay the portal's.
    forged = KeyReadFailedProblem(
        "no key in the reader",
        reason="no_key",
        type="/problems/forbidden",
        status=200,
        title="All is well",
        retry_after="0\r\nSet-Cookie: aos_session=stolen",
    )
    shop, station_id = await garage_with_station(session_factory)
    async with _station_answering(
        dev_env.client, settings, station_id, to_application_error(forged)
    ):
        answer = await api_client.post(
            f"/stations/{station_id}/key-reads", headers=shop.technician.headers
        )
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert (problem["type"], problem["status"], problem["reason"]) == (
        "/problems/key-read-failed",
        409,
        "no_key",
    )
    assert problem["title"] == KeyReadFailedProblem.title
    assert "retry-after" not in answer.headers and "set-cookie" not in answer.headers
