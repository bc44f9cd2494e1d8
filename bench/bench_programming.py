"""ECU programming figures, measured in one run on this machine.

- `flash_throughput_ratio`: the plain loop's time ÷ the orchestrated flash's time for the same
  package (4 ECUs of 16 MiB, 64 MiB in all), over the same transport (the station's DoIP link,
  `hw.doip_transport.DoipLink`) to a fresh simulated car in its own process, with the same
  frame log (`FrameTrace`). Orchestrated: POST /programming-sessions on the API, the
  ProgrammingSessionWorkflow on the Temporal dev server, a portal worker, and a station worker
  in its own process (`bench.station_process`, as on a workshop PC).
  Plain: a bare udsoncan loop sending the same requests (see `plain_flash`). Both are timed
  from opening the link to the frame log closed on disk; best of three interleaved runs.
  `flash_throughput_ratio_1mib` is the same for 4 ECUs of 256 KiB, where the session's fixed
  cost (one activity per ECU, the API's package check, the workflow start) weighs most.
  Both run against a car that erases, writes, checks and restarts instantly.
- `flash_throughput_ratio_1mib_timed`: `flash_throughput_ratio_1mib` against a car whose ECUs
  take a tenth of their timing model's time (`--timing-scale 0.1`), on both sides: the share
  of the session's fixed cost in what a workshop waits, with a car ten times faster than a
  real one.
- `trace_logging_ratio`: StationLink downloads with the session trace on ÷ off (median block).
- `flash_history_events_per_ecu_1mib` / `_16mib`: workflow history events per programmed ECU
  for images of 1 MiB and 16 MiB per ECU: one activity per segment, so it does not grow with
  the size.
- `resume_resent_bytes`: bytes sent again after the cable is pulled in the middle of a segment
  (the ECU acknowledges and skips them; only what was not yet confirmed goes again).
- `uds_requests_per_segment`: UDS requests other than TransferData in a whole session, per
  segment, for 4 ECUs of 2 segments each (1 MiB program + coding), counted by the car.
- `gateway_flash_ratio`: the orchestrated flash with the station worker connected straight to
  the frontend ÷ the same flash through the station gateway (`worker.py gateway` in its own
  process: TLS, the station's token, sealed task tokens), 4 ECUs of 16 MiB; best of three
  interleaved runs each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client as TemporalClient
from temporalio.testing import WorkflowEnvironment
from udsoncan import MemoryLocation
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException

from application.workflow_calls import station_status
from bench import link_bench
from contracts import search_attributes
from db import migrate
from db.engine import create_engine, create_session_factory
from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw.doip_transport import DoipLink
from hw.flash_files import load_package
from hw.protocol import (
    DID_BATTERY_VOLTAGE,
    DID_FINGERPRINT,
    DID_HARDWARE_NUMBER,
    DID_PROGRAMMING_DATE,
    DID_PROGRAMMING_TIMING,
    DID_SOFTWARE_LIST,
    DID_TESTER_SERIAL,
    DID_VIN,
    GATEWAY,
    ROUTINE_CHECK_DEPENDENCIES,
    ROUTINE_CHECK_MEMORY,
    Fingerprint,
    ecu_by_name,
    encode_programming_date,
    encode_tester_serial,
    memory_option,
)
from hw.security import key_for_ecu
from hw.sim import registry
from hw.sim.config import default_vehicle_config
from hw.sim.demo_package import build_demo_package
from hw.sim.vehicle import SimVehicle
from hw.trace import FrameTrace
from hw.uds_client import RawCodec
from hw.vehicle_url import parse_vehicle_url
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from station.worker import StationDependencies, station_worker
from temporal_client import connect_through_gateway, data_converter
from testkit.factories import create_workshop, sign_in
from testkit.portal_api import buy_time, register_station
from testkit.serving import free_port, running_api
from testkit.station_gateway import station_token
from workflows.programming_session import ProgrammingSessionWorkflow


def _wait_until_answering(client: Client) -> None:
    """After ECUReset the ECU is silent for a moment: poll TesterPresent until it answers."""
    deadline = time.monotonic() + 5
    client.set_config("p2_timeout", 0.05)  # short probes, as StationLink.wait_ready does
    try:
        while True:
            try:
                client.tester_present()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        client.set_config("p2_timeout", 1)


def plain_flash(package_dir: Path, trace_path: Path, doip_url: str) -> float:
    """Seconds for a bare udsoncan loop doing the station's UDS work for the whole package.

    Same transport as the station (its DoIP link, `hw.doip_transport.DoipLink`, to the car at
    `doip_url`) and the same frame log (`FrameTrace`), so the ratio shows what the
    orchestration costs and nothing else. Same requests as a programming session: the VIN, the voltage,
    every ECU's software list and its programming timing (0xF1A0) first; per ECU the voltage, the hardware number, programming
    session, security access, fingerprint, erase + download + check memory per segment,
    dependencies, reset, and the software list read back. Timed like the session: from opening
    the link and the frame log to the log closed on disk.
    """
    package = load_package(package_dir)
    url = parse_vehicle_url(doip_url)
    assert url.host is not None and url.port is not None
    started = time.perf_counter()
    trace = FrameTrace(trace_path)
    transport = DoipLink(
        url.host,
        url.port,
        tester_address=url.tester_address,
        gateway_address=ecu_by_name(GATEWAY).doip_address,
        trace=trace,
    )
    config = {
        "request_timeout": 30,
        "p2_timeout": 1,
        "use_server_timing": False,
        "data_identifiers": {"default": RawCodec()},
    }
    clients: dict[str, Client] = {}

    def client_for(ecu: str) -> Client:
        if ecu not in clients:
            connection = transport.connection(ecu, ecu_by_name(ecu).doip_address, ack_timeout=1)
            clients[ecu] = Client(connection, config=config)  # type: ignore[arg-type]
            clients[ecu].open()
        return clients[ecu]

    try:
        gateway = client_for(GATEWAY)
        gateway.read_data_by_identifier(DID_VIN)
        gateway.read_data_by_identifier(DID_BATTERY_VOLTAGE)
        for ecu_package in package.manifest.ecus:
            client_for(ecu_package.ecu).read_data_by_identifier(DID_SOFTWARE_LIST)
        for ecu_package in package.manifest.ecus:
            # the ECU's own programming timing for the plan's estimate, as the station reads it
            # (0x31, RequestOutOfRange, from an ECU that reports none)
            with contextlib.suppress(NegativeResponseException):
                client_for(ecu_package.ecu).read_data_by_identifier(DID_PROGRAMMING_TIMING)
        for ecu_package in package.manifest.ecus:
            gateway.read_data_by_identifier(DID_BATTERY_VOLTAGE)
            client = client_for(ecu_package.ecu)
            client.read_data_by_identifier(DID_HARDWARE_NUMBER)
            client.change_session(3)
            client.change_session(2)
            seed_response = client.request_seed(0x11)
            assert seed_response is not None
            seed = bytes(seed_response.service_data.seed)
            client.send_key(0x12, key_for_ecu(ecu_package.ecu, seed, 0x11))
            fingerprint = Fingerprint(
                programming_date=datetime.now(UTC).date(), workshop_id=1, station_id="bench"
            )
            client.write_data_by_identifier(DID_FINGERPRINT, fingerprint.encode())
            # the tester serial and programming date the station writes with it
            client.write_data_by_identifier(DID_TESTER_SERIAL, encode_tester_serial("bench"))
            client.write_data_by_identifier(
                DID_PROGRAMMING_DATE, encode_programming_date(fingerprint.programming_date)
            )
            for segment, data in zip(
                ecu_package.segments, package.images[ecu_package.ecu], strict=True
            ):
                option = (
                    bytes([0x44])
                    + segment.address.to_bytes(4, "big")
                    + segment.length.to_bytes(4, "big")
                )
                client.start_routine(0xFF00, option)
                response = client.request_download(
                    MemoryLocation(segment.address, segment.length, 32, 32)
                )
                assert response is not None
                block = response.service_data.max_length - 2
                counter = 1
                for position in range(0, len(data), block):
                    client.transfer_data(counter, data[position : position + block])
                    counter = (counter + 1) & 0xFF
                client.request_transfer_exit()
                client.start_routine(
                    ROUTINE_CHECK_MEMORY,
                    memory_option(segment.address, segment.length, segment.crc32),
                )
            client.start_routine(ROUTINE_CHECK_DEPENDENCIES)
            client.ecu_reset(1)
            _wait_until_answering(client)
            client.read_data_by_identifier(DID_SOFTWARE_LIST)
    finally:
        for client in clients.values():
            client.close()
        transport.close()
        trace.close()
    return time.perf_counter() - started


@contextlib.contextmanager
def car_in_process(vehicle: SimVehicle) -> Iterator[str]:
    """A simulated car in this process, reached over CAN FD (`sim://`); its URL."""
    name = f"car-{uuid.uuid4().hex[:8]}"
    registry.register(name, vehicle)
    try:
        yield f"sim://?name={name}"
    finally:
        registry.remove(name)


@contextlib.contextmanager
def car_process(vin: str, timing_scale: float = 0.0) -> Iterator[str]:
    """A fresh simulated car in its own process, a DoIP entity on 127.0.0.1; its URL.

    As with a real car, the car's work does not share the tester's interpreter. With
    `timing_scale` the ECUs take the time of their timing model (erase, write, check, reset;
    1 is real time), as a real car's do."""
    timing = ["--timing-scale", str(timing_scale)] if timing_scale else []
    process = subprocess.Popen(
        [sys.executable, "-m", "hw.sim", "--doip", "127.0.0.1:0", "--vin", vin, *timing],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = re.search(r"doip=(\S+)", process.stdout.readline())
        if ready is None:
            raise RuntimeError("the simulated car did not start")
        yield ready.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
CAR_VIN = default_vehicle_config().vin


class Bench:
    def __init__(self, env: WorkflowEnvironment, root: Path) -> None:
        self.env = env
        self.root = root
        database_url = f"sqlite:///{root}/bench.db"
        migrate.upgrade(database_url)
        self.settings = Settings(
            database_url=database_url,
            data_dir=root / "data",
            temporal_address=env.client.service_client.config.target_host,
            portal_task_queue=f"bench-{uuid.uuid4().hex[:6]}",
        )
        self.engine = create_engine(database_url)
        self.session_factory = create_session_factory(engine=self.engine)

    async def flash(
        self,
        package_id: str,
        vehicle_url: str,
        vin: str,
        gateway: str | None = None,
        *,
        parallel: bool = False,
    ) -> tuple[float, int, int]:
        """Seconds from POST /programming-sessions to completion, history events, ECUs.

        With `gateway` (a running gateway's address) the station worker reaches Temporal
        through it, as in production; without, straight at the frontend (the baseline).
        The ECUs one after another unless `parallel` (the plain loop's strategy, so the
        throughput ratios compare the same work).
        """
        station_id = f"bench-{uuid.uuid4().hex[:6]}"
        workshop_id = await create_workshop(self.session_factory)
        owner = await sign_in(self.session_factory, Role.WORKSHOP_OWNER, workshop_id)
        client = self.env.client
        token = None if gateway is None else await station_token(self.settings, station_id)
        portal = PortalDependencies(self.settings, self.session_factory)
        app = create_app(self.settings, temporal=client)
        queue = self.settings.station_task_queue(station_id)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(
                portal_worker(client, portal, self.settings.portal_task_queue)
            )
            if vehicle_url.startswith("sim://"):  # a car in this process: the station too
                await stack.enter_async_context(
                    station_worker(
                        client if token is None else await self._through(gateway, token),
                        StationDependencies(
                            station_id,
                            vehicle_url,
                            self.settings.packages_dir,
                            self.settings.traces_dir,
                        ),
                        queue,
                    )
                )
            else:  # a car in its own process: the station in its own, as in a workshop
                stack.enter_context(
                    station_process(self.settings, station_id, vehicle_url, queue, gateway, token)
                )
                await _until_online(client, self.settings, station_id)
            api = await stack.enter_async_context(running_api(app))
            await buy_time(api, owner)
            await register_station(api, owner, station_id)
            began = time.perf_counter()
            started = await api.post(
                "/programming-sessions",
                json={
                    "station_id": station_id,
                    "vin": vin,
                    "package_id": package_id,
                    "parallel": parallel,
                },
                headers=owner.headers,
            )
            started.raise_for_status()
            handle = client.get_workflow_handle_for(
                ProgrammingSessionWorkflow.run, started.json()["workflow_id"]
            )
            report = await handle.result()
            seconds = time.perf_counter() - began
            if report.state != "completed":
                raise RuntimeError(f"the benchmark flash ended {report.state}: {report.reason}")
            events = [event async for event in handle.fetch_history_events()]
            programmed = sum(1 for ecu in report.ecus if ecu.status == "done")
        return seconds, len(events), programmed

    async def _through(self, gateway: str | None, token: str) -> TemporalClient:
        return await connect_through_gateway(self.settings, token, address=gateway)


@contextlib.contextmanager
def station_process(
    settings: Settings,
    station_id: str,
    vehicle_url: str,
    queue: str,
    gateway: str | None,
    token: str | None,
) -> Iterator[None]:
    """A station worker in its own process (`bench.station_process`), straight at the
    frontend, or through `gateway` with the station's `token`."""
    command = [
        sys.executable,
        "-m",
        "bench.station_process",
        *("--station-id", station_id, "--task-queue", queue, "--vehicle", vehicle_url),
        *("--packages", str(settings.packages_dir), "--traces", str(settings.traces_dir)),
    ]
    if gateway is None:
        command += ["--temporal", settings.temporal_address]
    else:
        assert token is not None
        command += ["--gateway", gateway, "--token", token, "--data-dir", str(settings.data_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "station ready":
            raise RuntimeError("the station worker did not start")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _until_online(client: TemporalClient, settings: Settings, station_id: str) -> None:
    """Until Temporal lists the station's worker as polling (the API refuses a session on a
    station that is offline)."""
    for _ in range(100):
        if (await station_status(client, settings, station_id)).online:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"station {station_id} never polled")


def uds_requests_per_segment(vehicle: SimVehicle, manifest: FlashPackageManifest) -> float:
    """The UDS requests of a whole session other than TransferData (identification, session
    changes, security, erase, download set-up, checks, reset), per segment programmed; the
    car counts what it received."""
    segments = sum(len(ecu.segments) for ecu in manifest.ecus)
    others = sum(
        ecu.stats.requests
        - ecu.stats.blocks_programmed
        - ecu.stats.blocks_repeated
        - ecu.stats.blocks_skipped_identical
        for ecu in vehicle.ecus.values()
    )
    return others / segments


def _package(settings: Settings, package_id: str, size: int) -> FlashPackageManifest:
    return build_demo_package(
        settings.packages_dir / package_id, image_size_per_ecu=size, package_id=package_id
    )


async def _throughput_ratio(
    bench: Bench, package_id: str, size: int, timing_scale: float = 0.0
) -> tuple[float, float, float, float]:
    """Best of three interleaved runs each: plain seconds, orchestrated seconds, their ratio,
    and the orchestrated flash's history events per ECU; `timing_scale` for both cars."""
    manifest = _package(bench.settings, package_id, size)
    total_bytes = sum(ecu.total_bytes for ecu in manifest.ecus)
    plain, orchestrated, events_per_ecu = [], [], 0.0
    for run_index in range(3):  # interleaved; the best of each, as load only adds
        trace = bench.root / f"plain-{package_id}-{run_index}.asc"
        # a fresh car each time: flashed, it is at target
        with car_process(CAR_VIN, timing_scale) as url:
            plain.append(plain_flash(bench.settings.packages_dir / package_id, trace, url))
        with car_process(CAR_VIN, timing_scale) as url:
            seconds, events, ecus = await bench.flash(package_id, url, CAR_VIN)
        orchestrated.append(seconds)
        events_per_ecu = events / max(ecus, 1)
    print(
        f"# DoIP, car in its own process (timing scale {timing_scale}), {total_bytes} bytes: "
        f"plain {min(plain):.2f} s, orchestrated {min(orchestrated):.2f} s (runs: plain {', '.join(f'{t:.2f}' for t in plain)}; "
        f"orchestrated {', '.join(f'{t:.2f}' for t in orchestrated)})",
        file=sys.stderr,
    )
    return min(plain), min(orchestrated), min(plain) / min(orchestrated), events_per_ecu


@contextlib.contextmanager
def gateway_process(settings: Settings) -> Iterator[str]:
    """`worker.py gateway` in its own process, as in production; its address."""
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "AOS_DATABASE_URL": settings.database_url,
        "AOS_DATA_DIR": str(settings.data_dir),
        "AOS_TEMPORAL_ADDRESS": settings.temporal_address,
        "AOS_GATEWAY_LISTEN": address,
        "AOS_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen([sys.executable, "worker.py", "gateway"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(address.rpartition(":")[2])), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the gateway did not start") from None
                time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _gateway_ratio(bench: Bench, package_id: str) -> float:
    """Best of three interleaved flashes each: straight at the frontend ÷ through the gateway."""
    direct, gated = [], []
    with gateway_process(bench.settings) as gateway:
        for _ in range(3):
            with car_process(CAR_VIN) as url:
                direct.append((await bench.flash(package_id, url, CAR_VIN))[0])
            with car_process(CAR_VIN) as url:
                gated.append((await bench.flash(package_id, url, CAR_VIN, gateway))[0])
    print(
        f"# gateway: direct {min(direct):.2f} s, through the gateway {min(gated):.2f} s "
        f"(runs: direct {', '.join(f'{t:.2f}' for t in direct)}; "
        f"gateway {', '.join(f'{t:.2f}' for t in gated)})",
        file=sys.stderr,
    )
    return min(direct) / min(gated)


async def _dev_server() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )


async def flash_throughput_ratio_1mib() -> float:
    """`flash_throughput_ratio_1mib` alone (`python -m bench flash_throughput_ratio_1mib`):
    4 ECUs of 256 KiB, plain ÷ orchestrated, best of three interleaved runs each, on a dev
    server of its own. The small package is where a session's fixed cost shows."""
    env = await _dev_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(env, Path(tmp))
            _, _, ratio, _ = await _throughput_ratio(bench, "bench-256k", 256 * 1024)
            await bench.engine.dispose()
    finally:
        await env.shutdown()
    return ratio


# A tenth of a real ECU's erase, write, check and restart times: the 1 MiB flash then takes
# ~7 s a side instead of about a minute in real time.
TIMED_CAR_SCALE = 0.1


async def flash_throughput_ratio_1mib_timed() -> float:
    """`flash_throughput_ratio_1mib_timed` alone: the same as `flash_throughput_ratio_1mib`
    with both cars taking a tenth of their timing model's time."""
    env = await _dev_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(env, Path(tmp))
            _, _, ratio, _ = await _throughput_ratio(
                bench, "bench-256k", 256 * 1024, timing_scale=TIMED_CAR_SCALE
            )
            await bench.engine.dispose()
    finally:
        await env.shutdown()
    return ratio


async def flash_history_events_per_ecu_1mib() -> float:
    """`flash_history_events_per_ecu_1mib` alone: the history events of a 4-ECU session of
    1 MiB (the car in the tester's process), per ECU programmed."""
    env = await _dev_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(env, Path(tmp))
            _package(bench.settings, "bench-1mib", MIB)
            vehicle = link_bench._vehicle()
            with car_in_process(vehicle) as url:
                _, events, ecus = await bench.flash("bench-1mib", url, vehicle.vin)
            await bench.engine.dispose()
    finally:
        await env.shutdown()
    return events / max(ecus, 1)


# Figures `python -m bench NAME` measures one by one; `run()` measures them all together.
FIGURES: dict[str, Callable[[], Awaitable[float]]] = {
    "flash_throughput_ratio_1mib": flash_throughput_ratio_1mib,
    "flash_throughput_ratio_1mib_timed": flash_throughput_ratio_1mib_timed,
    "flash_history_events_per_ecu_1mib": flash_history_events_per_ecu_1mib,
}


async def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    env = await _dev_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(env, Path(tmp))
            # The large image (4 ECUs of 16 MiB, 64 MiB in all) over DoIP to a car in
            # its own process, as a real car is: with the simulated car in the tester's process
            # (sim://) the car shares the interpreter's lock with the worker, and the figure
            # measures that contention more than the orchestration. The small package (4 ECUs
            # of 256 KiB) shows what the fixed cost of a session weighs.
            _, _, ratio, events = await _throughput_ratio(bench, "bench-16mib", 16 * MIB)
            figures["flash_throughput_ratio"] = ratio
            figures["flash_history_events_per_ecu_16mib"] = events
            _, _, ratio, _ = await _throughput_ratio(bench, "bench-256k", 256 * 1024)
            figures["flash_throughput_ratio_1mib"] = ratio
            _, _, ratio, _ = await _throughput_ratio(
                bench, "bench-256k", 256 * 1024, timing_scale=TIMED_CAR_SCALE
            )
            figures["flash_throughput_ratio_1mib_timed"] = ratio

            figures["gateway_flash_ratio"] = await _gateway_ratio(bench, "bench-16mib")

            manifest = _package(bench.settings, "bench-1mib", MIB)
            vehicle = link_bench._vehicle()
            with car_in_process(vehicle) as url:
                _, events, ecus = await bench.flash("bench-1mib", url, vehicle.vin)
            figures["flash_history_events_per_ecu_1mib"] = events / max(ecus, 1)
            figures["uds_requests_per_segment"] = uds_requests_per_segment(vehicle, manifest)

            vehicle = link_bench._vehicle()
            vehicle.faults.disconnect_after_block("DME", 40, down_for=0.5)
            with car_in_process(vehicle) as url:
                await bench.flash("bench-256k", url, vehicle.vin)
            dme = vehicle.ecu("DME")
            block = dme.config.max_block_length - 2
            figures["resume_resent_bytes"] = float(
                (dme.stats.blocks_skipped_identical + dme.stats.blocks_repeated) * block
            )
            await bench.engine.dispose()
    finally:
        await env.shutdown()

    rates = link_bench.measure(size=256 * 1024, rounds=3)
    figures["trace_logging_ratio"] = rates["link+trace"].median_block / rates["link"].median_block
    return figures


if __name__ == "__main__":
    for key, value in asyncio.run(run()).items():
        print(f"{key}: {value:.4g}")
