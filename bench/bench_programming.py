"""ECU programming figures, measured in one run on this machine.

- `flash_throughput_ratio`: the plain loop's time ÷ the orchestrated flash's time for the same
  package (4 ECUs of 4 MiB, 16 MiB in all), on the same bus (CAN FD on python-can's virtual
  bus), the same transport (the project's ISO-TP bus and udsoncan connection) and the same
  frame log (`FrameTrace`). Orchestrated: POST /programming-sessions on the API, the
  ProgrammingSessionWorkflow on the Temporal dev server, a portal worker and a station worker.
  Plain: a bare udsoncan loop sending the same requests (see `plain_flash`). Both are timed
  from opening the link to the frame log closed on disk. `flash_throughput_ratio_1mib` is the
  same for 4 ECUs of 256 KiB, where the session's fixed cost (about 20 activities, the link and its
  trace writer process) weighs most.
- `trace_logging_ratio`: StationLink downloads with the session trace on ÷ off (median block).
- `flash_history_events_per_ecu_1mib` / `_16mib`: workflow history events per programmed ECU
  for images of 1 MiB and 16 MiB per ECU: one activity per segment, so it does not grow with
  the size.
- `resume_resent_bytes`: bytes sent again after the cable is pulled in the middle of a segment
  (the ECU acknowledges and skips them; only what was not yet confirmed goes again).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from udsoncan import MemoryLocation
from udsoncan.client import Client

from api.app import create_app
from db import migrate
from db.engine import create_engine, create_session_factory
from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw import bench as link_bench
from hw.can_transport import IsoTpBus, IsoTpConnection, open_can_bus
from hw.flash_files import build_demo_package, load_package
from hw.protocol import (
    DID_BATTERY_VOLTAGE,
    DID_FINGERPRINT,
    DID_HARDWARE_NUMBER,
    DID_SOFTWARE_LIST,
    DID_VIN,
    GATEWAY,
    ROUTINE_CHECK_DEPENDENCIES,
    ROUTINE_CHECK_MEMORY,
    Fingerprint,
    ecu_by_name,
    memory_option,
)
from hw.security import key_for_ecu
from hw.sim import registry
from hw.sim.vehicle import SimVehicle
from hw.trace import FrameTrace
from hw.uds_client import RawCodec
from settings import Settings
from temporal_client import data_converter
from tests.factories import create_workshop, sign_in
from tests.helpers import running_api
from tests.programming.conftest import buy_time, register_station
from worker import PortalDependencies, StationDependencies, portal_worker, station_worker
from workflows import search_attributes
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


def plain_flash(package_dir: Path, trace_path: Path) -> float:
    """Seconds for a bare udsoncan loop doing the station's UDS work for the whole package.

    Same transport as the station (the project's ISO-TP bus and udsoncan connection over
    python-can's virtual bus, CAN FD) and the same frame log (`FrameTrace`), so the ratio
    shows what the orchestration costs and nothing else. Same requests as a programming
    session: the VIN, the voltage and every ECU's software list first; per ECU the voltage,
    the hardware number, programming session, security access, fingerprint, erase + download
    + check memory per segment, dependencies, reset, and the software list read back. Timed
    like the session: from opening the bus and the frame log to the log closed on disk.
    """
    package = load_package(package_dir)
    vehicle = link_bench._vehicle()
    channel = f"bench-{uuid.uuid4().hex[:8]}"
    server = vehicle.attach_can(channel, fd=True)
    started = time.perf_counter()
    trace = FrameTrace(trace_path)
    transport = IsoTpBus(open_can_bus("virtual", channel, fd=True), fd=True, trace=trace)
    config = {
        "request_timeout": 30,
        "p2_timeout": 1,
        "use_server_timing": False,
        "data_identifiers": {"default": RawCodec()},
    }
    clients: dict[str, Client] = {}

    def client_for(ecu: str) -> Client:
        if ecu not in clients:
            info = ecu_by_name(ecu)
            stack = transport.open_stack(txid=info.can_request_id, rxid=info.can_response_id)
            clients[ecu] = Client(IsoTpConnection(stack, name=ecu), config=config)  # type: ignore[arg-type]
            clients[ecu].open()
        return clients[ecu]

    try:
        gateway = client_for(GATEWAY)
        gateway.read_data_by_identifier(DID_VIN)
        gateway.read_data_by_identifier(DID_BATTERY_VOLTAGE)
        for ecu_package in package.manifest.ecus:
            client_for(ecu_package.ecu).read_data_by_identifier(DID_SOFTWARE_LIST)
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
    seconds = time.perf_counter() - started
    vehicle.detach(server)
    vehicle.close()
    return seconds


MIB = 1024 * 1024


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
        self, package_id: str, vehicle: SimVehicle, inject_disconnect: bool = False
    ) -> tuple[float, int, int]:
        """Seconds from POST /programming-sessions to completion, history events, ECUs."""
        station_id = f"bench-{uuid.uuid4().hex[:6]}"
        name = f"car-{station_id}"
        registry.register(name, vehicle)
        deps = StationDependencies(
            station_id, f"sim://?name={name}", self.settings.packages_dir, self.settings.traces_dir
        )
        workshop_id = await create_workshop(self.session_factory)
        owner = await sign_in(self.session_factory, Role.WORKSHOP_OWNER, workshop_id)
        client = self.env.client
        portal = PortalDependencies(self.settings, self.session_factory)
        app = create_app(self.settings, temporal=client)
        queue = self.settings.station_task_queue(station_id)
        async with (
            portal_worker(client, portal, self.settings.portal_task_queue),
            station_worker(client, deps, queue),
            running_api(app) as api,
        ):
            await buy_time(api, owner)
            await register_station(api, owner, station_id)
            if inject_disconnect:
                vehicle.faults.disconnect_after_block("DME", 40, down_for=0.5)
            began = time.perf_counter()
            started = await api.post(
                "/programming-sessions",
                json={"station_id": station_id, "vin": vehicle.vin, "package_id": package_id},
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
        registry.remove(name)
        return seconds, len(events), programmed


def _package(settings: Settings, package_id: str, size: int) -> FlashPackageManifest:
    return build_demo_package(
        settings.packages_dir / package_id, image_size_per_ecu=size, package_id=package_id
    )


async def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(env, Path(tmp))
            # The figure that counts: a package of realistic size (4 MiB per ECU, 16 MiB in
            # all); the small one shows what the fixed per-session cost weighs on short flashes.
            for label, size in (("", 4 * MIB), ("_1mib", 256 * 1024)):
                package_id = f"bench-ratio{label or '-16mib'}"
                manifest = _package(bench.settings, package_id, size)
                total_bytes = sum(ecu.total_bytes for ecu in manifest.ecus)
                plain, orchestrated = [], []
                for run_index in range(3):  # interleaved; the best of each, as load only adds
                    trace = Path(tmp) / f"plain-{package_id}-{run_index}.asc"
                    plain.append(plain_flash(bench.settings.packages_dir / package_id, trace))
                    seconds, _, _ = await bench.flash(package_id, link_bench._vehicle())
                    orchestrated.append(seconds)
                print(
                    f"# flash of {total_bytes} bytes: plain {min(plain):.2f} s, orchestrated "
                    f"{min(orchestrated):.2f} s",
                    file=sys.stderr,
                )
                figures[f"flash_throughput_ratio{label}"] = min(plain) / min(orchestrated)

            for label, image in (("1mib", MIB), ("16mib", 16 * MIB)):
                _package(bench.settings, f"bench-{label}", image)
                _, events, ecus = await bench.flash(f"bench-{label}", link_bench._vehicle())
                figures[f"flash_history_events_per_ecu_{label}"] = events / max(ecus, 1)

            _package(bench.settings, "bench-256k", 256 * 1024)
            vehicle = link_bench._vehicle()
            await bench.flash("bench-256k", vehicle, inject_disconnect=True)
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
