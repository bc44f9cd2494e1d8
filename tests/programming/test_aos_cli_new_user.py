"""`aos` as a new user meets it (issue #15), through the installed entry point against the real
API: the first `aos login` enrols TOTP in the terminal (QR code and secret, then a code);
the session id `aos flash start` prints and the workflow id `aos flows list` shows are both
taken by every command; `aos flows list` never cuts an id, however narrow the terminal."""

from __future__ import annotations

import asyncio
import io
import re
import sys
import time
from pathlib import Path

import httpx
import pyotp
import pytest
import segno
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.models import User
from domain.accounts import Role
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from security.credentials import hash_password, totp_provisioning_uri
from settings import Settings
from testkit.factories import create_workshop, sign_in
from testkit.portal_api import buy_time, register_station
from testkit.serving import serving_api
from tests.accounts_helpers import fresh_totp_code
from tests.programming.conftest import running_station

pytestmark = pytest.mark.e2e

AOS = str(Path(sys.executable).parent / "aos")
PASSWORD = "a long technician password"
PROMPT = b"Code from your authenticator app"


def _env(config: Path, columns: int) -> dict[str, str]:
    return {"AOS_CLI_CONFIG": str(config), "COLUMNS": str(columns), "PATH": str(Path(AOS).parent)}


async def _aos(config: Path, *args: str, columns: int = 160) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        AOS,
        *args,
        env=_env(config, columns),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), timeout=120))[0].decode()
    assert process.returncode is not None
    return process.returncode, output


async def _until_prompt(stdout: asyncio.StreamReader, seen: bytes) -> bytes:
    """What the process printed, up to and including its next TOTP prompt."""
    deadline = time.monotonic() + 60
    while seen.count(PROMPT) == 0 or not seen.rstrip().endswith(b":"):
        chunk = await asyncio.wait_for(stdout.read(4096), timeout=deadline - time.monotonic())
        assert chunk, f"aos ended before asking for a code:\n{seen.decode()}"
        seen += chunk
    return seen


def _wrong_code(secret: str) -> str:
    """A code the server refuses now: none of the steps it accepts around the current time."""
    totp, now = pyotp.TOTP(secret), time.time()
    near = {totp.at(now + 30 * step) for step in range(-3, 4)}
    return next(code for code in ("000000", "111111", "222222") if code not in near)


async def _first_login(config: Path, api: str, email: str) -> tuple[int, str, str]:
    """`aos login` of a user who never enrolled TOTP, typing a wrong code, then the right one;
    the exit code, everything shown, and the secret it showed."""
    process = await asyncio.create_subprocess_exec(
        AOS,
        "login",
        "--api",
        api,
        "--email",
        email,
        "--password",
        PASSWORD,
        env=_env(config, 100),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdin is not None and process.stdout is not None
    shown = await _until_prompt(process.stdout, b"")
    found = re.search(rb"secret: ([A-Z2-7]+)", shown)
    assert found, shown.decode()
    secret = found.group(1).decode()
    process.stdin.write(f"{_wrong_code(secret)}\n".encode())
    await process.stdin.drain()
    shown = await _until_prompt(process.stdout, shown + b"\n")
    process.stdin.write(f"{await fresh_totp_code(secret)}\n".encode())
    await process.stdin.drain()
    rest = (await asyncio.wait_for(process.communicate(), timeout=60))[0]
    assert process.returncode is not None
    return process.returncode, (shown + rest).decode(), secret


async def test_a_new_user_enrols_signs_in_and_names_a_session_either_way(
    dev_env: WorkflowEnvironment,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    settings = portal_on_dev_server
    build_demo_package(settings.packages_dir / "cli-2.0.0", image_size_per_ecu=8 * 1024)
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    email = f"{owner.user_id}@garage.example"
    async with session_factory() as session, session.begin():  # invited, never signed in
        await session.execute(
            update(User)
            .where(User.id == owner.user_id)
            .values(password_hash=hash_password(PASSWORD), totp_enrolled=False, totp_secret=None)
        )
    config = tmp_path / "session.json"

    async with (
        serving_api(create_app(settings, temporal=dev_env.client)) as api,
        running_station(dev_env.client, settings) as station,
    ):
        async with httpx.AsyncClient(base_url=api) as client:
            await buy_time(client, owner)
            await register_station(client, owner, station.station_id)

        code, out, secret = await _first_login(config, api, email)
        assert code == 0, out
        qr_code = io.StringIO()
        uri = totp_provisioning_uri(secret, email)
        segno.make(uri, error="m").terminal(out=qr_code, compact=True)
        assert qr_code.getvalue() in out  # the QR code of this very secret, drawn whole
        assert "That code is wrong" in out
        assert out.count(PROMPT.decode()) == 2
        assert "Recovery codes" in out and "Signed in until" in out

        # signing in again asks for the code of the now enrolled app
        relogin = tmp_path / "again.json"
        totp_code = await fresh_totp_code(secret)
        login_again = ("login", "--api", api, "--email", email, "--password", PASSWORD)
        code, out = await _aos(relogin, *login_again, "--totp", totp_code)
        assert code == 0 and "Recovery codes" not in out, out
        # a code works once: the same one again is refused, and says why
        code, out = await _aos(tmp_path / "replayed.json", *login_again, "--totp", totp_code)
        assert code == 1 and "This TOTP code was used already" in out, out
        assert not (tmp_path / "replayed.json").exists()

        code, out = await _aos(
            config,
            "flash",
            "start",
            "--station",
            station.station_id,
            "--vin",
            station.vehicle.vin,
            "--package",
            "cli-2.0.0",
        )
        assert code == 0, out
        session_id = out.strip().splitlines()[-1]
        workflow_id = f"programming-{session_id}"

        for given in (session_id, workflow_id):
            code, out = await _aos(config, "flash", "watch", given, "--interval", "0.2")
            assert code == 0, out
            assert "All ECUs programmed" in out
            code, out = await _aos(config, "flows", "history", given)
            assert code == 0, out
            assert "WorkflowExecutionCompleted" in out or "completed" in out.lower(), out
            code, out = await _aos(config, "flash", "abort", given, "--reason", "too late")
            assert code == 1 and "ended" in out, out  # 409 with the final state, said plainly

        for columns in (80, 200):
            code, out = await _aos(config, "flows", "list", columns=columns)
            assert code == 0, out
            assert any(workflow_id in line for line in out.splitlines()), out  # whole
            assert "…" not in out, out
