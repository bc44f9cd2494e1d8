"""A station on another machine than the portal: it shares no disk with it. It fetches the
package over HTTP with its own token, verifies it itself, and hands in the session's frame log;
the token opens nothing but its own station's files."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from contracts.programming import programming_workflow_id
from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw.flash_files import ArchiveBounds, package_archive
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from settings import Settings
from station.portal_files import PortalFiles
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.serving import serving_api
from tests.programming.conftest import (
    DEMO_PACKAGE,
    buy_time,
    new_station_id,
    register_station,
    running_station,
    start_session,
    wait_until_ended,
)

pytestmark = pytest.mark.e2e


def _portal_files(portal_url: str, station_id: str, token: str, settings: Settings) -> PortalFiles:
    """The station's client of the portal, with the portal's bounds on a package."""
    bounds = ArchiveBounds(
        max_unpacked_bytes=settings.package_max_unpacked_bytes,
        max_files=settings.package_max_files,
    )
    return PortalFiles(portal_url, station_id, token, bounds)


async def _issue_token(api: httpx.AsyncClient, owner: SignedIn, station_id: str) -> str:
    issued = await api.post(
        f"/workshops/{owner.workshop_id}/stations/{station_id}/token", headers=owner.headers
    )
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["station_token"]
    return token


async def test_a_remote_station_fetches_the_package_and_hands_in_its_frame_log(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    tmp_path: Path,
) -> None:
    settings, owner = portal_on_dev_server, workshop_owner
    await buy_time(api_client, owner)
    station_id = new_station_id()
    await register_station(api_client, owner, station_id)
    token = await _issue_token(api_client, owner, station_id)
    station_root = tmp_path / "station"  # the station's own disk: empty

    async with serving_api(create_app(settings, temporal=dev_env.client)) as portal_url:
        portal = _portal_files(portal_url, station_id, token, settings)
        async with running_station(
            dev_env.client,
            settings,
            station_id=station_id,
            remote=(station_root, portal),
            token=token,
        ) as station:
            session_id = (await start_session(api_client, owner, station_id, station.vehicle.vin))[
                "session_id"
            ]
            final = await wait_until_ended(api_client, owner.headers, session_id)
            assert final["state"] == "completed", final

            # The package came over HTTP and equals the portal's, file by file.
            fetched = station_root / "packages" / DEMO_PACKAGE
            portal_copy = settings.packages_dir / DEMO_PACKAGE
            assert sorted(p.name for p in fetched.iterdir()) == sorted(
                p.name for p in portal_copy.iterdir()
            )
            for file in portal_copy.iterdir():
                assert (fetched / file.name).read_bytes() == file.read_bytes()
            for ecu in demo_package.ecus:
                for segment in ecu.segments:
                    memory = station.vehicle.ecu(ecu.ecu).memory_crc(
                        segment.address, segment.length
                    )
                    assert memory == segment.crc32

            # The frame log was written on the station and handed in to the portal.
            written = sorted((station_root / "traces" / session_id).glob("*.asc"))
            handed_in = sorted((settings.traces_dir / session_id).glob("*.asc"))
            assert [p.name for p in handed_in] == [p.name for p in written] != []
            assert [p.read_bytes() for p in handed_in] == [p.read_bytes() for p in written]
            trace = await api_client.get(
                f"/programming-sessions/{session_id}/trace", headers=owner.headers
            )
            assert trace.status_code == 200
            assert "Rx" in trace.text and "Tx" in trace.text
            # ... and the signed report audits what was handed in
            for _ in range(50):  # the workflow closes just after its last state
                report = await api_client.get(
                    f"/programming-sessions/{session_id}/report", headers=owner.headers
                )
                if report.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            audited = report.json()["report"]
            assert [f["name"] for f in audited["frame_logs"]] == [p.name for p in written]
            assert audited["audit"]["verdict"] == "conforms", audited["audit"]

            # A new token replaces the old: the gateway cuts the station's open poll within
            # seconds, and the station gets no further task, nor the new package.
            gateway = station.connection.gateway
            assert gateway.open_calls >= 1  # the worker's long poll
            await _issue_token(api_client, owner, station_id)
            for _ in range(100):
                if gateway.open_calls == 0:
                    break
                await asyncio.sleep(0.05)
            assert gateway.open_calls == 0
            build_demo_package(
                settings.packages_dir / "demo-2.0.1",
                image_size_per_ecu=24 * 1024,
                package_id="demo-2.0.1",
                version="2.0.1",
            )
            started = await api_client.post(
                "/programming-sessions",
                json={
                    "station_id": station_id,
                    "vin": station.vehicle.vin,
                    "package_id": "demo-2.0.1",
                },
                headers=owner.headers,
            )
            assert started.status_code == 201, started.text
            await asyncio.sleep(3)
            progress = await api_client.get(
                f"/programming-sessions/{started.json()['session_id']}", headers=owner.headers
            )
            assert progress.json()["state"] == "identifying", progress.text
            assert not (station_root / "packages" / "demo-2.0.1").exists()
            await dev_env.client.get_workflow_handle(started.json()["workflow_id"]).terminate(
                "the station was cut off"
            )


async def test_station_routes_open_only_to_the_stations_own_token(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    owner = workshop_owner
    mine, theirs = new_station_id(), new_station_id()
    await register_station(api_client, owner, mine)
    await register_station(api_client, owner, theirs)
    token = await _issue_token(api_client, owner, mine)
    archive = f"/stations/{mine}/packages/{DEMO_PACKAGE}/archive"

    anonymous = await api_client.get(archive)
    assert (anonymous.status_code, anonymous.json()["type"]) == (
        401,
        "/problems/station-token-invalid",
    )
    as_person = await api_client.get(archive, headers=owner.headers)  # a person's session token
    assert as_person.status_code == 401
    as_station = await api_client.get(archive, headers={"Authorization": f"Bearer {token}"})
    assert as_station.status_code == 200
    assert as_station.content[:2] == b"\x1f\x8b"  # gzip
    expected = package_archive(portal_on_dev_server.packages_dir / DEMO_PACKAGE)
    assert len(as_station.content) == len(expected)

    station_headers = {"Authorization": f"Bearer {token}"}
    other_station = await api_client.get(
        f"/stations/{theirs}/packages/{DEMO_PACKAGE}/archive", headers=station_headers
    )
    assert (other_station.status_code, other_station.json()["field"]) == (404, "station_id")
    unknown_package = await api_client.get(
        f"/stations/{mine}/packages/no-such-package/archive", headers=station_headers
    )
    assert (unknown_package.status_code, unknown_package.json()["type"]) == (
        404,
        "/problems/package-not-found",
    )
    traversal = await api_client.get(
        f"/stations/{mine}/packages/..%2F..%2Fsecrets/archive", headers=station_headers
    )
    assert traversal.status_code == 404

    # Frame logs only for sessions that ran on this station, under a plain file name.
    foreign_session = await api_client.put(
        f"/stations/{mine}/traces/{uuid.uuid4()}/1.asc", content=b"x", headers=station_headers
    )
    assert (foreign_session.status_code, foreign_session.json()["field"]) == (404, "session_id")
    bad_name = await api_client.put(
        f"/stations/{mine}/traces/{uuid.uuid4()}/evil.sh", content=b"x", headers=station_headers
    )
    assert (bad_name.status_code, bad_name.json()["field"]) == (404, "file_name")

    # Only the workshop's owner issues tokens; another workshop does not see the station.
    technician = await sign_in(session_factory, Role.TECHNICIAN, owner.workshop_id)
    not_owner = await api_client.post(
        f"/workshops/{owner.workshop_id}/stations/{mine}/token", headers=technician.headers
    )
    assert not_owner.status_code == 403
    stranger = await sign_in(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory)
    )
    foreign = await api_client.post(
        f"/workshops/{stranger.workshop_id}/stations/{mine}/token", headers=stranger.headers
    )
    assert foreign.status_code == 404

    # A new token replaces the old one at once.
    await _issue_token(api_client, owner, mine)
    replaced = await api_client.get(archive, headers=station_headers)
    assert replaced.status_code == 401


async def test_a_frame_log_left_behind_is_handed_in_by_the_next_session(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    tmp_path: Path,
) -> None:
    """A session whose link the idle timer closed (or whose station was down when it ended)
    leaves its frame log on the station; the next session there hands it in, and the portal
    serves it under its own session."""
    settings, owner = portal_on_dev_server, workshop_owner
    await buy_time(api_client, owner)
    station_id = new_station_id()
    await register_station(api_client, owner, station_id)
    token = await _issue_token(api_client, owner, station_id)
    # The earlier session, as the portal knows it: a programming flow of this station.
    left_over = str(uuid.uuid4())
    await dev_env.client.start_workflow(
        "ProgrammingSessionWorkflow",
        id=programming_workflow_id(left_over),
        task_queue=f"nobody-{uuid.uuid4()}",  # never runs: only its search attributes count
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search_attributes.WORKSHOP_ID, owner.workshop_id or ""),
                SearchAttributePair(search_attributes.STATION_ID, station_id),
            ]
        ),
    )
    station_root = tmp_path / "station"
    log = station_root / "traces" / left_over / "1764400000000000000.asc"
    log.parent.mkdir(parents=True)
    log.write_text("date Sat Nov 29 14:00:00.000 2026\nbase hex  timestamps absolute\n")

    async with serving_api(create_app(settings, temporal=dev_env.client)) as portal_url:
        portal = _portal_files(portal_url, station_id, token, settings)
        async with running_station(
            dev_env.client,
            settings,
            station_id=station_id,
            remote=(station_root, portal),
            token=token,
        ) as station:
            next_session = (
                await start_session(api_client, owner, station_id, station.vehicle.vin)
            )["session_id"]
            final = await wait_until_ended(api_client, owner.headers, next_session)
            assert final["state"] == "completed", final

    handed_in = settings.traces_dir / left_over / log.name
    assert handed_in.read_bytes() == log.read_bytes()
    trace = await api_client.get(f"/programming-sessions/{left_over}/trace", headers=owner.headers)
    assert trace.status_code == 200 and "timestamps absolute" in trace.text
    assert (log.parent / ".handed-in").exists()
