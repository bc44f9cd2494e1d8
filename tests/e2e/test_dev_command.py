"""`make dev` (`worker.py dev`) brings the whole product up, and Ctrl-C takes all of it down."""

from __future__ import annotations

import asyncio
import signal
import stat
import time
from pathlib import Path

import httpx
import pyotp
import pytest
from temporalio.client import Client

from tests.e2e.dev_stack import DevStack, alive, children_of, dev_stack
from tests.helpers import until_polled

pytestmark = pytest.mark.e2e


async def _pollers(temporal_port: int, task_queue: str) -> set[str]:
    """The identities polling `task_queue`, once one has polled (30 s at most)."""
    client = await Client.connect(f"127.0.0.1:{temporal_port}")
    return {poller.identity for poller in await until_polled(client, task_queue, 30)}


def _administrator_signs_in_with_the_kept_totp_secret(stack: DevStack) -> None:
    """The administrator's TOTP secret is kept beside its password, for the owner's eyes only,
    and the banner says so instead of asking to enrol."""
    credentials = stack.data_dir / "admin-credentials.txt"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    email, password, secret, uri = credentials.read_text().splitlines()
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    banner = next(line for line in stack.lines if line.startswith("Administrator:"))
    assert f"TOTP secret and otpauth:// link in {credentials}" in banner
    assert "enrol" not in banner.lower()
    login = f"{stack.api_url}/auth/login"
    without_code = httpx.post(login, json={"email": email, "password": password}, timeout=30)
    assert without_code.json()["type"] == "/problems/totp-required", without_code.text
    signed_in = httpx.post(
        login,
        json={"email": email, "password": password, "totp_code": pyotp.TOTP(secret).now()},
        timeout=30,
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["token"]


def test_dev_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    with dev_stack(tmp_path / "data") as stack:
        started = time.monotonic()
        ready = stack.wait_ready(60)
        assert ready.json()["temporal"]["ok"] and ready.json()["database"]["ok"]
        print(f"ready after {time.monotonic() - started:.1f}s")
        assert httpx.get(f"http://127.0.0.1:{stack.ui_port}/", timeout=5).status_code == 200
        assert (tmp_path / "data" / "temporal.db").exists()  # a restart keeps workflows
        # demo-1 polls as production stations do: through the gateway, which names it.
        assert asyncio.run(_pollers(stack.temporal_port, "station-demo-1")) == {"station:demo-1"}
        children = children_of(stack.process.pid)
        # temporal, API, portal worker, gateway, station worker, connected-car backend
        assert len(children) >= 6
        backend = stack.wait_for_line("connected-car backend ready", 30).split()[-1]
        assert httpx.get(f"{backend}/health", timeout=5).json()["cars"] >= 1

        _administrator_signs_in_with_the_kept_totp_secret(stack)

        assert stack.stop(signal.SIGINT) == 0, stack.tail()
        assert f"http://127.0.0.1:{stack.ui_port}" in stack.output and "/docs" in stack.output
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []
