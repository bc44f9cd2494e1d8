"""The processes' entry points and the portal's secrets: production refuses to start without a
secret key of its own; in the embedded mode the portal's processes read the generated secrets
from AOS_DATA_DIR and the station worker never opens them.

Each command runs in a fresh interpreter as a user starts it, until it fails to reach a
Temporal server that is not there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.certificates import ensure_certificates
from security.kept_secrets import PAYLOAD_KEYS_FILE, SECRET_KEY_FILE
from security.report_keys import new_key_entry
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "127.0.0.1:9"  # nothing listens there: each command ends once it tries to connect


def _environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """Only what is given: no AOS_SECRET_KEY or AOS_PAYLOAD_KEYS from the test's environment."""
    return {
        "PATH": "/usr/bin:/bin",
        "AOS_DATA_DIR": str(data_dir),
        "AOS_DATABASE_URL": f"sqlite:///{data_dir}/aos.db",
        "AOS_TEMPORAL_ADDRESS": NOWHERE,
        "AOS_GATEWAY_ADDRESS": NOWHERE,
        **settings,
    }


def _run(code: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


API = ["-c", "from portal_app import create_app\ncreate_app()"]


@pytest.mark.parametrize(
    "command",
    [["worker.py", "portal"], ["worker.py", "gateway"], API],
    ids=["portal worker", "gateway", "API"],
)
def test_production_does_not_start_without_a_secret_key_of_its_own(
    command: list[str], tmp_path: Path
) -> None:
    env = _environment(
        tmp_path,
        AOS_ENVIRONMENT="production",
        AOS_DATABASE_URL="postgresql+psycopg://portal@127.0.0.1:9/aos",
    )
    refused = _run(command, env)
    assert refused.returncode != 0
    assert "AOS_SECRET_KEY must be set to 32+ random characters" in refused.stderr
    assert list(tmp_path.iterdir()) == []  # nothing generated in its place

    no_report_key = _run(command, {**env, "AOS_SECRET_KEY": "k" * 40})
    assert no_report_key.returncode != 0
    assert "AOS_REPORT_SIGNING_KEYS must be set in production" in no_report_key.stderr

    report_key = new_key_entry()
    given = _run(
        command, {**env, "AOS_SECRET_KEY": "k" * 40, "AOS_REPORT_SIGNING_KEYS": report_key}
    )
    assert "AOS_SECRET_KEY" not in given.stderr  # it got further: to Temporal, TLS files, ...
    assert "AOS_REPORT_SIGNING_KEYS" not in given.stderr
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def _opened_by(command: list[str], env: dict[str, str]) -> list[str]:
    """Every file the command opened (Python's `open` audit event), until it ended."""
    probe = (
        "import atexit, json, os, runpy, sys\n"
        "opened = []\n"
        "def hook(event, args):\n"
        "    if event == 'open' and isinstance(args[0], (str, bytes, os.PathLike)):\n"
        "        opened.append(os.path.abspath(os.fsdecode(args[0])))\n"
        "sys.addaudithook(hook)\n"
        "atexit.register(lambda: print('OPENED ' + json.dumps(opened)))\n"
        f"sys.argv = {command!r}\n"
        "runpy.run_path('worker.py', run_name='__main__')\n"
    )
    run = _run(["-c", probe], env)
    line = next((x for x in run.stdout.splitlines() if x.startswith("OPENED ")), None)
    assert line is not None, run.stdout + run.stderr
    opened: list[str] = json.loads(line.removeprefix("OPENED "))
    return opened


def test_the_station_worker_never_opens_the_portals_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # What `make dev`'s first start leaves.
    Settings(data_dir=data).with_portal_secrets(make_payload_keys=True)
    ensure_certificates(data / "gateway", ["127.0.0.1"])  # so the station gets to connecting
    secrets_files = {str(data / SECRET_KEY_FILE), str(data / PAYLOAD_KEYS_FILE)}
    env = _environment(data, AOS_STATION_TOKEN="a-token-nobody-issued")

    station = _opened_by(
        ["worker.py", "station", "--station-id", "bay-1", "--vehicle", "sim://"], env
    )
    assert str(data / "gateway" / "ca.pem") in station  # it ran as far as connecting
    assert secrets_files.isdisjoint(station)

    # The same probe sees a portal process read them: the check above can fail.
    portal = _opened_by(["worker.py", "portal"], env)
    assert secrets_files <= set(portal)


def test_processes_started_one_after_the_other_read_the_same_secrets(tmp_path: Path) -> None:
    env = _environment(tmp_path / "data")

    def code(make_payload_keys: bool) -> list[str]:
        return [
            "-c",
            "from settings import get_settings\n"
            f"s = get_settings().with_portal_secrets(make_payload_keys={make_payload_keys})\n"
            "print(s.secret_key, s.payload_keys)\n",
        ]

    first, second = _run(code(True), env), _run(code(False), env)  # make dev, then a part
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.split() == [
        (tmp_path / "data" / name).read_text().strip()
        for name in (SECRET_KEY_FILE, PAYLOAD_KEYS_FILE)
    ]
