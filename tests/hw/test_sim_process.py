"""The simulated vehicle as its own process: persistence and a station crash mid-flash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from hw.flash_files import FlashPackage
from hw.flash_sequence import flash_ecu
from hw.protocol import Fingerprint
from hw.sim.config import FLASH_LAYOUT
from hw.station_link import open_station_link
from hw.trace import diagnostic_payloads, read_trace
from tests.hw.simtools import FAST, ready_to_program

ROOT = Path(__file__).resolve().parents[2]
DME = FLASH_LAYOUT["DME"].program_address


class SimProcess:
    def __init__(self, state: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hw.sim",
                "--doip",
                "127.0.0.1:0",
                "--state",
                str(state),
                "--erase-time",
                "0.01",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("hw.sim ready"), line + (
            self.proc.stderr.read() if self.proc.stderr else ""
        )
        self.url = next(p.split("=", 1)[1] for p in line.split() if p.startswith("doip="))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[tuple[SimProcess, Path]]:
    state = tmp_path / "car.json"
    sim = SimProcess(state)
    yield sim, state
    sim.stop()


def test_vehicle_state_survives_a_restart(
    sim_process: tuple[SimProcess, Path], demo_package: FlashPackage
) -> None:
    sim, state = sim_process
    pkg = demo_package.ecu("DME")
    with open_station_link(sim.url, timeouts=FAST) as link:
        flash_ecu(
            link,
            pkg,
            demo_package.images["DME"],
            fingerprint=Fingerprint(date(2025, 1, 2), 7, "S1"),
        )
    assert sim.stop() == 0
    saved = json.loads(state.read_text())
    assert saved["ecus"]["DME"]["software"] == [str(u) for u in pkg.software_units]

    again = SimProcess(state)
    try:
        with open_station_link(again.url, timeouts=FAST) as link:
            assert link.read_software_list("DME") == pkg.software_units
            assert [str(u.version) for u in link.read_software_list("EGS")] == ["1.0.0", "1.0.0"]
            assert link.read_fingerprint("DME") == Fingerprint(date(2025, 1, 2), 7, "S1")
            ready_to_program(link, "DME")
            for seg in pkg.segments:
                assert link.check_memory("DME", seg.address, seg.length, seg.crc32) == seg.crc32
    finally:
        again.stop()


STATION = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from datetime import date
    from hw.flash_files import load_package
    from hw.flash_sequence import ensure_programming
    from hw.protocol import Fingerprint
    from hw.station_link import open_station_link
    from hw.uds_client import LinkTimeouts

    url, package_dir, progress_file, trace_file = sys.argv[1:5]
    package = load_package(package_dir)
    seg = package.ecu("DME").segments[0]
    data = package.segment_data("DME", 0)

    def on_progress(p):
        Path(progress_file).write_text(json.dumps(p.__dict__))
        if p.next_block_index == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # the station PC dies mid-transfer

    with open_station_link(url, Path(trace_file), timeouts=LinkTimeouts(p2=0.5)) as link:
        ensure_programming(link, "DME")
        link.write_fingerprint("DME", Fingerprint(date(2026, 12, 4), 4711, "ST-TEST"))
        link.erase("DME", seg.address, seg.length)
        link.download("DME", seg.address, data, on_progress=on_progress)
    """
)


def test_station_killed_mid_transfer_resumes_from_heartbeat(
    sim_process: tuple[SimProcess, Path],
    demo_package: FlashPackage,
    demo_dir: Path,
    tmp_path: Path,
) -> None:
    sim, _ = sim_process
    script = tmp_path / "station.py"
    script.write_text(STATION)
    progress_file = tmp_path / "progress.json"
    trace_file = tmp_path / "killed.asc"
    station = subprocess.run(
        [sys.executable, str(script), sim.url, str(demo_dir), str(progress_file), str(trace_file)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert station.returncode == -signal.SIGKILL, station.stderr.decode()
    heartbeat = json.loads(progress_file.read_text())
    assert heartbeat["next_block_index"] == 3

    # the trace writer of the killed station finishes the file on its own
    deadline = time.monotonic() + 10
    while not trace_file.exists() or not trace_file.read_text().endswith("End TriggerBlock\n"):
        assert time.monotonic() < deadline, "trace of the killed station was not finished"
        time.sleep(0.05)
    sent = [p for _, _, rx, p in diagnostic_payloads(read_trace(trace_file)) if not rx]
    assert [p[:2] for p in sent if p[:1] == b"\x36"] == [b"\x36\x01", b"\x36\x02", b"\x36\x03"]

    # a new station process picks up from the heartbeat
    seg = demo_package.ecu("DME").segments[0]
    data = demo_package.segment_data("DME", 0)
    with open_station_link(sim.url, timeouts=FAST) as link:
        ready_to_program(link, "DME")
        result = link.download(
            "DME",
            seg.address,
            data,
            start_block_index=heartbeat["next_block_index"],
            block_size=heartbeat["block_size"],
        )
        assert result.bytes_sent == seg.length - heartbeat["bytes_confirmed"]
        assert link.check_memory("DME", seg.address, seg.length, seg.crc32) == seg.crc32


def test_timing_scale_and_lax_fingerprint_on_the_command_line(tmp_path: Path) -> None:
    sim = SimProcess(tmp_path / "car.json", "--timing-scale", "0.01", "--lax-fingerprint")
    try:
        with open_station_link(sim.url, timeouts=FAST) as link:
            timing = link.read_programming_timing("DME")
            assert timing is not None
            assert timing.erase_ms_per_kib == pytest.approx(0.1)  # 10 ms/KiB x 0.01
            assert timing.reset_ms == pytest.approx(15.0)
            link.ensure_programming("DME")
            link.erase("DME", DME, 4096)  # no fingerprint: this car lets it through
    finally:
        assert sim.stop() == 0
    bad = subprocess.run(
        [sys.executable, "-m", "hw.sim", "--doip", "127.0.0.1:0", "--timing-scale", "-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "--timing-scale must be >= 0" in bad.stderr
