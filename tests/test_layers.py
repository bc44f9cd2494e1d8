"""Each process loads only its own part of the tree (README "Layout").

import-linter (`make lint`) checks the packages' imports; these tests check what the real
entry points load at run time, top-level modules included.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VEHICLE_STACK = ("can", "isotp", "udsoncan", "doipclient", "usb", "hw.sim", "station")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules loaded once `code` ran (or failed) in a fresh interpreter."""
    probe = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('LOADED ' + json.dumps(sorted(sys.modules))))\n" + code
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    line = next(x for x in run.stdout.splitlines() if x.startswith("LOADED "))
    return set(json.loads(line.removeprefix("LOADED ")))


def _present(loaded: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == r or m.startswith(r + ".") for r in roots))


def test_the_api_and_the_portal_worker_load_no_vehicle_stack_and_no_simulator() -> None:
    loaded = _loaded_after("import portal_app\nimport portal_worker\n")
    assert (
        "portal_app" in loaded
        and "portal_worker" in loaded
        and "workflows.programming_session" in loaded
    )
    assert _present(loaded, VEHICLE_STACK) == []


def test_the_station_command_loads_nothing_of_the_portal(tmp_path: Path) -> None:
    # The real command, run until it fails to reach a Temporal server that is not there.
    code = (
        "import runpy, sys\n"
        "sys.argv = ['worker.py', 'station', '--station-id', 'layers', '--vehicle', 'sim://']\n"
        "runpy.run_path('worker.py', run_name='__main__')\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AOS_TEMPORAL_ADDRESS": "127.0.0.1:9",
        "AOS_DATA_DIR": str(tmp_path),
        "AOS_STATION_TOKEN": "a-token-nobody-issued",
    }
    loaded = _loaded_after(code, env)
    assert "station.worker" in loaded and "hw.station_link" in loaded
    assert _present(loaded, ("db", "api", "workflows", "activities", "sqlalchemy")) == []
