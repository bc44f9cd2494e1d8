"""How a station link reaches the car: CAN (python-can + can-isotp), DoIP (doipclient), or a
simulated car on a virtual CAN channel (``sim://``, only where the simulator was wired in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hw import protocol as P
from hw.can_transport import IsoTpBus, IsoTpConnection, open_can_bus
from hw.doip_transport import DoipEcuConnection, DoipLink
from hw.errors import LinkDisconnected
from hw.protocol import EcuInfo
from hw.trace import FrameTrace
from hw.uds_client import LinkTimeouts
from hw.vehicle_url import VehicleUrl


class Transport(Protocol):
    """One connection per ECU over one bus or DoIP link; `close` ends them all.

    ``parallel_ecus``: requests to different ECUs may be on the wire at once (DoIP, where each
    ECU's answers reach only its connection); False keeps one request on the bus (CAN)."""

    parallel_ecus: bool

    def connection(self, ecu: EcuInfo) -> IsoTpConnection | DoipEcuConnection: ...

    def close(self) -> None: ...


class CanTransport:
    """ISO-TP over one CAN bus (a real interface, or the virtual channel of a simulated car).
    One request at a time on the bus, as the issue asks (ISO-TP ids per ECU would allow more)."""

    parallel_ecus = False

    def __init__(self, interface: str, channel: str, fd: bool, trace: FrameTrace | None) -> None:
        self.bus = IsoTpBus(open_can_bus(interface, channel, fd=fd), fd=fd, trace=trace)

    def connection(self, ecu: EcuInfo) -> IsoTpConnection:
        stack = self.bus.open_stack(txid=ecu.can_request_id, rxid=ecu.can_response_id)
        return IsoTpConnection(stack, name=f"can-{ecu.name}")

    def close(self) -> None:
        self.bus.close()


class DoipTransport:
    """DoIP to the vehicle's gateway, one logical connection per ECU address; ECUs in
    parallel."""

    parallel_ecus = True

    def __init__(self, url: VehicleUrl, trace: FrameTrace | None, timeouts: LinkTimeouts) -> None:
        assert url.host is not None and url.port is not None
        gateway = P.ecu_by_name(P.GATEWAY).doip_address
        self._timeouts = timeouts
        self.link = DoipLink(
            url.host,
            url.port,
            tester_address=url.tester_address,
            gateway_address=gateway,
            trace=trace,
            connect_timeout=timeouts.connect,
        )

    def connection(self, ecu: EcuInfo) -> DoipEcuConnection:
        return self.link.connection(ecu.name, ecu.doip_address, ack_timeout=self._timeouts.p2)

    def close(self) -> None:
        self.link.close()


class SimulatedCars(Protocol):
    """What opens ``sim://`` links: the simulator, wired in by the dev and test entry points
    (``hw.sim.station.install``), never by production code."""

    def attach(self, url: VehicleUrl, cleanup: list[Callable[[], None]]) -> str:
        """Attach the car named in ``url`` (a fresh one without a name) to a new virtual CAN
        channel; its name. Everything to undo on close goes into ``cleanup``."""
        ...


_simulated_cars: SimulatedCars | None = None


def install_simulated_cars(cars: SimulatedCars) -> None:
    """Let ``sim://`` URLs reach simulated cars (called by the dev and test entry points)."""
    global _simulated_cars
    _simulated_cars = cars


def open_transport(
    url: VehicleUrl,
    trace: FrameTrace | None,
    timeouts: LinkTimeouts,
    cleanup: list[Callable[[], None]],
) -> Transport:
    """The transport ``url`` names; what must be undone on close goes into ``cleanup``."""
    if url.scheme == "sim":
        if _simulated_cars is None:
            raise LinkDisconnected(
                f"cannot open {url}: no simulator here (only `worker.py dev`, a station started "
                "with --vehicle sim:// and the tests wire it in)"
            )
        channel = _simulated_cars.attach(url, cleanup)
        return CanTransport("virtual", channel, url.fd, trace)
    if url.scheme == "can":
        assert url.interface is not None and url.channel is not None
        return CanTransport(url.interface, url.channel, url.fd, trace)
    return DoipTransport(url, trace, timeouts)
