"""A session's progress gives its durations as whole seconds (issue #15).

The workflow keeps `timedelta`s; JSON showed them as `P2DT51M46.414258S`, which the
OpenAPI's `duration` format does not allow. The API answers integers of seconds instead.
"""

from __future__ import annotations

import httpx
import pytest

from domain.flash_package import FlashPackageManifest
from settings import Settings
from testkit.factories import SignedIn
from tests.programming.conftest import (
    Station,
    buy_time,
    register_station,
    start_session,
    wait_until_ended,
)

pytestmark = pytest.mark.e2e

DAY_SECONDS = 24 * 3600


async def test_progress_and_report_give_whole_seconds(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
) -> None:
    await buy_time(api_client, workshop_owner, period="day")
    await register_station(api_client, workshop_owner, station_on_dev_server.station_id)
    started = await start_session(
        api_client,
        workshop_owner,
        station_on_dev_server.station_id,
        station_on_dev_server.vehicle.config.vin,
    )
    final = await wait_until_ended(api_client, workshop_owner.headers, started["session_id"])
    assert final["state"] == "completed", final

    assert "remaining_coverage" not in final and "eta" not in final
    remaining = final["remaining_seconds"]
    # A day was bought moments ago: nearly all of it is left, as a whole number of seconds.
    assert isinstance(remaining, int) and DAY_SECONDS - 600 < remaining <= DAY_SECONDS
    assert final["eta_seconds"] is None or isinstance(final["eta_seconds"], int)
    for ecu in final["ecus"]:
        assert "overrun" not in ecu and ecu["overrun_seconds"] is None, ecu
