"""Never start a segment that cannot finish, with the ECU's own timing figures: the station
estimates a segment's erase from the figures the ECU reported when the car was identified
(DID 0xF1A0, handed to `program_ecu` by the session), not only from the throughput and the
steps measured so far. Run as the worker runs the activity, against the simulated car."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from contracts.programming import EcuResult, ProgramEcuInput
from domain.programming_timing import ProgrammingTiming
from hw.sim.vehicle import SimVehicle
from station.programming import ProgrammingStationActivities
from tests.programming import test_ecu_resume
from tests.programming.test_ecu_resume import _setup

car = test_ecu_resume.car  # the fixture: a simulated car of its own

# Slow erase: a second per KiB, over 30 s for any of KOMBI's segments.
SLOW_ERASE = ProgrammingTiming(erase_ms_per_kib=1000, write_ms_per_kib=0, check_ms=0, reset_ms=0)


def _run(station: ProgrammingStationActivities, request: ProgramEcuInput) -> EcuResult:
    """One attempt as the worker runs it, started now (the time left is counted from the
    activity's start)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, started_time=datetime.now(UTC))
    result: EcuResult = env.run(station.program_ecu, request)
    return result


def test_a_segment_the_figures_say_cannot_finish_is_not_started(
    tmp_path: Path, car: tuple[str, SimVehicle]
) -> None:
    station, manifest, request = _setup(tmp_path, car)
    kombi = car[1].ecu("KOMBI")
    window = dict(
        time_limit=datetime.now(UTC) + timedelta(seconds=10), throughput_bytes_per_second=1e6
    )
    # The throughput and the default steps (2 s) alone would start it: ~2.1 s x 1.2 < 10 s.
    stopped = _run(station, request.model_copy(update={**window, "timing": SLOW_ERASE}))
    assert stopped.stopped_at is not None and stopped.stopped_at.segment_index == 0
    assert stopped.bytes_sent == 0 and kombi.stats.erases == 0  # nothing touched

    started = _run(station, request.model_copy(update=window))
    assert started.stopped_at is None and started.software_after
    assert kombi.stats.erases == len(manifest.ecu("KOMBI").segments)
