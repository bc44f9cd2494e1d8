"""A retry of `program_ecu` whose last heartbeat that reached the server is behind what the lost
attempt did (the station worker sends heartbeats at most once a second, so a kill loses up to
that much): it neither erases a segment again nor sends a checked one again.

This was issue #26's "resume started the ECU over" (KOMBI received 1,088 blocks for 576 with 3
erases): a retry resumed at a block of a segment the killed attempt had already checked; the
ECU refused the download into checked memory (NRC 0x70) and the retry erased the segment and
wrote all of its 512 blocks again. Run as the worker runs the activity (its heartbeat details
and attempt set as the server hands them to a retry), against the simulated car.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from contracts.programming import EcuResult, ProgramEcuInput
from domain.flash_package import FlashPackageManifest
from domain.programming import EcuProgress, EcuStep
from hw.sim import registry
from hw.sim.demo_package import build_demo_package
from hw.sim.ecu import SimEcu
from hw.sim.vehicle import SimVehicle
from station.programming import ProgrammingStationActivities

PACKAGE = "resume-unit"


@pytest.fixture
def car() -> Iterator[tuple[str, SimVehicle]]:
    name = f"car-{uuid.uuid4().hex[:8]}"
    yield name, registry.get_or_create(name)
    registry.remove(name)


def _setup(
    tmp_path: Path, car: tuple[str, SimVehicle]
) -> tuple[ProgrammingStationActivities, FlashPackageManifest, ProgramEcuInput]:
    manifest = build_demo_package(
        tmp_path / "packages" / PACKAGE,
        image_size_per_ecu=256 * 1024,
        ecus=("KOMBI",),
        package_id=PACKAGE,
    )
    name, vehicle = car
    station = ProgrammingStationActivities(
        "st-resume", f"sim://?name={name}", tmp_path / "packages", tmp_path / "traces"
    )
    request = ProgramEcuInput(
        session_id="s-1",
        package_id=PACKAGE,
        ecu="KOMBI",
        expected_vin=vehicle.vin,
        workshop_id="w-1",
    )
    return station, manifest, request


def _run(
    station: ProgrammingStationActivities,
    request: ProgramEcuInput,
    beats: list[EcuProgress],
    retry_from: EcuProgress | None = None,
) -> EcuResult:
    """One attempt as the worker runs it; with `retry_from`, a retry handed that heartbeat."""
    env = ActivityEnvironment()
    if retry_from is not None:
        env.info = dataclasses.replace(
            env.info, heartbeat_details=[retry_from.model_dump(mode="json")], attempt=2
        )

    def beat(*details: Any) -> None:
        if details:
            beats.append(EcuProgress.model_validate(details[0]))

    env.on_heartbeat = beat
    result: EcuResult = env.run(station.program_ecu, request)
    return result


def _blocks(ecu: SimEcu, manifest: FlashPackageManifest) -> int:
    block = ecu.config.max_block_length - 2
    return sum(-(-segment.length // block) for segment in manifest.ecu(ecu.name).segments)


def test_a_retry_behind_a_checked_segment_does_not_send_it_again(
    tmp_path: Path, car: tuple[str, SimVehicle]
) -> None:
    station, manifest, request = _setup(tmp_path, car)
    kombi = car[1].ecu("KOMBI")
    beats: list[EcuProgress] = []
    first = _run(station, request, beats)
    assert first.software_after and first.stopped_at is None
    assert (kombi.stats.erases, kombi.stats.blocks_programmed) == (2, _blocks(kombi, manifest))
    # The attempt was killed after it finished; the server's last heartbeat is an early block
    # of the first segment (both segments were checked since).
    stale = next(beat for beat in beats if beat.download and beat.segment_index == 0)
    assert stale.download is not None and stale.download.next_block_index < 512

    again = _run(station, request, [], retry_from=stale)
    assert again.bytes_sent == 0
    assert (kombi.stats.erases, kombi.stats.blocks_programmed) == (2, _blocks(kombi, manifest))
    assert kombi.stats.blocks_skipped_identical == 0
    for segment in manifest.ecu("KOMBI").segments:
        assert kombi.memory_crc(segment.address, segment.length) == segment.crc32


def test_a_retry_behind_an_erase_does_not_erase_again(
    tmp_path: Path, car: tuple[str, SimVehicle]
) -> None:
    station, manifest, request = _setup(tmp_path, car)
    vehicle = car[1]
    kombi = vehicle.ecu("KOMBI")
    vehicle.faults.disconnect_after_block("KOMBI", 100)  # down until restored
    beats: list[EcuProgress] = []
    with pytest.raises(ApplicationError) as failed:
        _run(station, request, beats)
    assert failed.value.details[0]["step"] == EcuStep.DOWNLOAD  # the failure names its step
    assert (kombi.stats.erases, kombi.stats.blocks_programmed) == (1, 100)
    # The last heartbeat the server got said: prepared, nothing erased yet.
    stale = next(beat for beat in beats if beat.prepared)
    assert not stale.erased and stale.download is None

    vehicle.faults.restore_link()
    _run(station, request, [], retry_from=stale)
    # The first segment was not erased again: its 100 blocks were acknowledged (identical),
    # not written again; the second segment was erased once.
    assert kombi.stats.erases == 2
    assert kombi.stats.blocks_programmed == _blocks(kombi, manifest)
    assert kombi.stats.blocks_skipped_identical == 100
    for segment in manifest.ecu("KOMBI").segments:
        assert kombi.memory_crc(segment.address, segment.length) == segment.crc32
