"""The technician's terminal client against a flash interrupted by a fault on the car:
`aos flash watch` stops with the reason (exit code 2), `aos flash resume` continues it, and
`aos flash watch` follows it to the end."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pyotp
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.models import User
from domain.accounts import Role
from domain.catalogue import Service
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from security.credentials import hash_password
from settings import Settings
from testkit.factories import SignedIn, create_workshop, long_ticket, sign_in
from testkit.portal_api import register_station
from testkit.serving import serving_api
from tests.programming.conftest import running_station

AOS = str(Path(sys.executable).parent / "aos")
PASSWORD = "a long technician password"


async def _aos(config: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        AOS,
        *args,
        env={"AOS_CLI_CONFIG": str(config), "COLUMNS": "160", "PATH": str(Path(AOS).parent)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), timeout=120))[0].decode()
    assert process.returncode is not None
    return process.returncode, output


async def with_password_and_totp(
    session_factory: async_sessionmaker[AsyncSession], owner: SignedIn
) -> str:
    """Give `owner` the password `PASSWORD` and a TOTP secret (returned), as `aos login` needs."""
    secret = pyotp.random_base32()
    async with session_factory() as session, session.begin():
        await session.execute(
            update(User)
            .where(User.id == owner.user_id)
            .values(password_hash=hash_password(PASSWORD), totp_secret=secret)
        )
    return secret


async def aos_login(config: Path, api: str, owner: SignedIn, secret: str) -> None:
    """`aos login` as `owner` (see `with_password_and_totp`), its session kept in `config`."""
    code, out = await _aos(
        config,
        "login",
        "--api",
        api,
        "--email",
        f"{owner.user_id}@garage.example",
        "--password",
        PASSWORD,
        "--totp",
        pyotp.TOTP(secret).now(),
    )
    assert code == 0, out


async def test_watch_stops_at_the_fault_and_resume_finishes_the_flash(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    env, settings = time_skipping_env, portal_on_time_skipping_server
    build_demo_package(
        settings.packages_dir / "cli-test",
        image_size_per_ecu=256 * 1024,
        ecus=("DME",),
        package_id="cli-test",
    )
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    secret = await with_password_and_totp(session_factory, owner)
    await long_ticket(
        session_factory, workshop_id, await env.get_current_time(), Service.ECU_PROGRAMMING
    )

    config = tmp_path / "session.json"
    async with (
        serving_api(create_app(settings, temporal=env.client)) as api,
        running_station(env.client, settings) as station,
    ):
        async with httpx.AsyncClient(base_url=api) as client:
            await register_station(client, owner, station.station_id)
        car, dme = station.vehicle, station.vehicle.ecu("DME")

        await aos_login(config, api, owner, secret)
        code, out = await _aos(
            config,
            "flash",
            "start",
            "--station",
            station.station_id,
            "--vin",
            car.vin,
            "--package",
            "cli-test",
        )
        assert code == 0, out
        session_id = out.strip().splitlines()[-1]

        with env.auto_time_skipping_disabled():
            for _ in range(4000):
                if dme.download is not None and dme.download.blocks >= 20:
                    break
                await asyncio.sleep(0.005)
        car.faults.sag_battery(10_500)
        watch = asyncio.create_task(_aos(config, "flash", "watch", session_id, "--interval", "0.2"))
        while not watch.done():  # let the retries run out: the test server skips backoff
            await env.sleep(timedelta(seconds=2))
        code, out = watch.result()
        assert code == 2, out
        # The plan first: the car's one CAN lane with the DME, and the estimate.
        assert "Plan: 1 lane(s), lanes in parallel, at most 4 at once" in out
        assert "lane 1: DME (~" in out and "Estimated duration: " in out
        assert "Needs the technician" in out and f"aos flash resume {session_id}" in out

        car.battery_mv = 12_600
        code, out = await _aos(config, "flash", "resume", session_id)
        assert code == 0, out
        code, out = await _aos(config, "flash", "watch", session_id, "--interval", "0.2")
        assert code == 0, out
        assert "All ECUs programmed" in out and "DME" in out

        code, out = await _aos(config, "flash", "resume", session_id)
        assert code == 1 and "completed" in out  # the problem document, said plainly
