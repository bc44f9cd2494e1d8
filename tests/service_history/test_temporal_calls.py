"""How many calls into Temporal each step of a service entry costs through the JSON API, counted
at the client boundary: the app's own Temporal client, every remote call noted with the HTTP
request that made it (testkit.temporal_calls), on the dev server with the real portal worker
and a station worker on a simulated car.

Opening is one update-with-start; every step one update whose validator checks the caller;
a read one query. Another workshop's step is refused by the validator in the same one call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.service_history import CONSENT_TEXT_VERSION
from portal_app import create_app
from settings import Settings
from testkit.factories import long_ticket
from testkit.serving import running_api
from testkit.temporal_calls import RequestLabels, counting_client
from tests.service_history.conftest import DEMO_VIN, add_station, garage, seed, station_worker

pytestmark = pytest.mark.usefixtures("portal_on_dev_server")

UPDATE = "update_workflow_execution"


async def test_each_step_of_an_entry_is_one_temporal_call_through_the_api(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    counted, counter = counting_client(dev_env.client)
    app = create_app(settings, temporal=counted)
    app.add_middleware(RequestLabels)
    await seed(session_factory)
    shop = await garage(session_factory, "Garage Hoorn")
    other = await garage(session_factory, "Garage Enkhuizen")
    for workshop in (shop, other):
        await long_ticket(session_factory, workshop.workshop_id, datetime.now(UTC))
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, shop.workshop_id, station_id)
    tech = shop.technician.headers

    async with station_worker(dev_env.client, settings, station_id), running_api(app) as api:

        async def call(method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, list[str]]:
            """The answer, and the Temporal calls serving the request made."""
            counter.clear()
            answer = await api.request(method, path, **kwargs)
            return answer, counter.of(f"{method} {path}")

        opened, made = await call(
            "POST",
            "/service-entries",
            json={"vin": DEMO_VIN, "station_id": station_id},
            headers=tech,
        )
        assert opened.status_code == 201, opened.text
        assert opened.json()["state"] == "opened"
        assert made == ["execute_multi_operation"]  # update-with-start
        entry = f"/service-entries/{opened.json()['entry_id']}"
        steps: list[tuple[str, dict[str, object] | None, str]] = [
            (
                "consent",
                {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION},
                "consent_recorded",
            ),
            (
                "details",
                {"mileage_km": 196_000, "service_date": datetime.now(UTC).date().isoformat()},
                "details_entered",
            ),
            ("services", {"cbs_items": ["engine_oil", "brake_fluid"]}, "services_selected"),
            ("create", None, "created"),
            ("write-to-vehicle", None, "written_to_vehicle"),
            ("close", None, "closed"),
        ]
        for step, body, state in steps:
            # Another workshop's step is refused as "no such entry" by the validator, in one
            # call, and changes nothing.
            foreign, made = await call(
                "POST", f"{entry}/{step}", json=body, headers=other.technician.headers
            )
            assert (foreign.status_code, foreign.json()["type"]) == (
                404,
                "/problems/service-entry-not-found",
            ), foreign.text
            assert made == [UPDATE], (step, made)
            answer, made = await call("POST", f"{entry}/{step}", json=body, headers=tech)
            assert answer.status_code == 200, (step, answer.text)
            assert answer.json()["state"] == state
            print(f"{step}: {made}")
            assert made == [UPDATE], (step, made)
            if step == "write-to-vehicle":
                status, made = await call("GET", entry, headers=tech)
                assert status.json()["vehicle_transfer"] == "written"
                assert made == ["query_workflow"]
                log, made = await call("GET", f"{entry}/maintenance-log.pdf", headers=tech)
                assert log.status_code == 200
                assert made == ["query_workflow"]

        # A step after the flow ended: the update finds no running flow, one query tells an
        # ended entry (409) from an unknown one.
        late, made = await call("POST", f"{entry}/close", headers=tech)
        assert (late.status_code, late.json()["type"]) == (409, "/problems/service-entry-closed")
        assert made == [UPDATE, "query_workflow"]
