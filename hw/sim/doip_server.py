"""The simulated vehicle as a DoIP entity (ISO 13400-2), threads and plain sockets.

TCP (data): generic header ``version, ~version, payload type u16, length u32``;
routing activation 0x0005 -> 0x0006 (tester addresses 0x0E00..0x0FFF; a second
activation of the same tester address triggers an alive check 0x0007 on the old socket,
which is closed if it does not answer 0x0008 within 500 ms); diagnostic message 0x8001,
acknowledged with 0x8002 (or 0x8003: 0x02 invalid source, 0x03 unknown target) on
receipt, then handed to a per-ECU worker (requests to different ECUs run concurrently,
those to one ECU in order) whose response(s) are sent as 0x8001; alive check 0x0007 answered with 0x0008;
anything else: generic negative acknowledge 0x0000.

UDP (same port, best effort): vehicle identification 0x0001/0x0002/0x0003 -> 0x0004,
entity status 0x4001 -> 0x4002, power mode 0x4003 -> 0x4004.

While the vehicle link is down (fault injection) all connections are closed and new ones
are closed right after accept.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import struct
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hw.sim.ecu import SimEcu
    from hw.sim.vehicle import SimVehicle

log = logging.getLogger(__name__)

HEADER = struct.Struct("!BBHI")
GATEWAY_ADDRESS = 0x0010
MAX_PAYLOAD = 0x0010_0000
EID = bytes.fromhex("02AA55000010")
GID = bytes.fromhex("02AA55000000")

T_GENERIC_NACK = 0x0000
T_VEHICLE_ID_REQ = 0x0001
T_VEHICLE_ID_REQ_EID = 0x0002
T_VEHICLE_ID_REQ_VIN = 0x0003
T_VEHICLE_ID_RESP = 0x0004
T_ROUTING_REQ = 0x0005
T_ROUTING_RESP = 0x0006
T_ALIVE_REQ = 0x0007
T_ALIVE_RESP = 0x0008
T_ENTITY_STATUS_REQ = 0x4001
T_ENTITY_STATUS_RESP = 0x4002
T_POWER_MODE_REQ = 0x4003
T_POWER_MODE_RESP = 0x4004
T_DIAG = 0x8001
T_DIAG_ACK = 0x8002
T_DIAG_NACK = 0x8003

MAX_SOCKETS = 8


class _Closed(Exception):
    pass


class _Connection:
    def __init__(self, sock: socket.socket, peer: object) -> None:
        self.sock = sock
        self.peer = peer
        self.rfile = sock.makefile("rb", buffering=1 << 16)
        self.send_lock = threading.Lock()
        self.tester: int | None = None
        self.version = 0x02
        self.alive = threading.Event()
        self.closed = False
        # one worker per target ECU: a long request to one ECU (erase) must not hold up
        # requests to others on the same socket, as on a real gateway
        self.inboxes: dict[int, queue.SimpleQueue[bytes | None]] = {}

    def send(self, payload_type: int, payload: bytes) -> None:
        data = HEADER.pack(self.version, self.version ^ 0xFF, payload_type, len(payload)) + payload
        with self.send_lock:
            if self.closed:
                raise _Closed()
            try:
                self.sock.sendall(data)
            except OSError as exc:
                raise _Closed() from exc

    def read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise _Closed()
        return data

    def close(self) -> None:
        with self.send_lock:
            if self.closed:
                return
            self.closed = True
        for inbox in list(self.inboxes.values()):
            inbox.put(None)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class DoipVehicleServer:
    def __init__(
        self,
        vehicle: SimVehicle,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        logical_address: int = GATEWAY_ADDRESS,
    ) -> None:
        self.vehicle = vehicle
        self.host = host
        self.logical_address = logical_address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._udp: socket.socket | None = None
        try:
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((host, self.port))
            udp.settimeout(0.2)
            self._udp = udp
        except OSError as exc:
            log.warning("DoIP UDP discovery not available on %s:%s (%s)", host, self.port, exc)
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"doip://{host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.vehicle.add_link_listener(self._on_link)
        self._spawn(self._accept_loop, "sim-doip-accept")
        if self._udp is not None:
            self._spawn(self._udp_loop, "sim-doip-udp")

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.vehicle.remove_link_listener(self._on_link)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        if self._udp is not None:
            with contextlib.suppress(OSError):
                self._udp.close()
        self._close_all()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    def _on_link(self, up: bool) -> None:
        if not up:
            self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            conns, self._connections = list(self._connections), []
        for conn in conns:
            conn.close()

    # ------------------------------------------------------------------ TCP

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            if not self.vehicle.link_up or self._stopping.is_set():
                with contextlib.suppress(OSError):
                    sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock, peer)
            with self._lock:
                if len(self._connections) >= MAX_SOCKETS:
                    conn.close()
                    continue
                self._connections.append(conn)
            self._spawn(self._serve, f"sim-doip-{peer}", conn)

    def _serve(self, conn: _Connection) -> None:
        try:
            while not conn.closed:
                version, inverse, ptype, length = HEADER.unpack(conn.read_exact(HEADER.size))
                if version ^ 0xFF != inverse or version not in (0x01, 0x02, 0x03, 0xFF):
                    conn.send(T_GENERIC_NACK, b"\x00")  # incorrect pattern format
                    return
                if version != 0xFF:
                    conn.version = version
                if length > MAX_PAYLOAD:
                    conn.send(T_GENERIC_NACK, b"\x02")  # message too large
                    return
                payload = conn.read_exact(length)
                if not self._dispatch(conn, ptype, payload):
                    return
        except _Closed:
            pass
        except Exception:
            log.exception("DoIP connection %s failed", conn.peer)
        finally:
            conn.close()
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)

    def _dispatch(self, conn: _Connection, ptype: int, payload: bytes) -> bool:
        """Handle one message; False closes the connection."""
        if ptype == T_ROUTING_REQ:
            return self._routing_activation(conn, payload)
        if ptype == T_DIAG:
            return self._diagnostic(conn, payload)
        if ptype == T_ALIVE_REQ:
            conn.send(T_ALIVE_RESP, struct.pack("!H", self.logical_address))
            return True
        if ptype == T_ALIVE_RESP:
            conn.alive.set()
            return True
        conn.send(T_GENERIC_NACK, b"\x01")  # unknown payload type
        return True

    def _routing_activation(self, conn: _Connection, payload: bytes) -> bool:
        if len(payload) not in (7, 11):
            conn.send(T_GENERIC_NACK, b"\x04")  # invalid payload length
            return False
        source, activation_type = struct.unpack_from("!HB", payload)

        def respond(code: int) -> None:
            conn.send(T_ROUTING_RESP, struct.pack("!HHBI", source, self.logical_address, code, 0))

        if not 0x0E00 <= source <= 0x0FFF:
            respond(0x00)  # unknown source address
            return False
        if activation_type not in (0x00, 0x01):
            respond(0x06)  # unsupported activation type
            return False
        if conn.tester is not None and conn.tester != source:
            respond(0x02)  # source address differs from the one on this socket
            return False
        with self._lock:
            others = [c for c in self._connections if c is not conn and c.tester == source]
        for other in others:
            other.alive.clear()
            try:
                other.send(T_ALIVE_REQ, b"")
            except _Closed:
                continue
            if other.alive.wait(0.5):
                respond(0x03)  # source address already active on another socket
                return False
            other.close()
        conn.tester = source
        respond(0x10)
        return True

    def _diagnostic(self, conn: _Connection, payload: bytes) -> bool:
        if len(payload) < 5:
            conn.send(T_GENERIC_NACK, b"\x04")
            return False
        source, target = struct.unpack_from("!HH", payload)
        data = payload[4:]
        if conn.tester is None or source != conn.tester:
            conn.send(T_DIAG_NACK, struct.pack("!HHB", target, source, 0x02))
            return False
        ecu = self.vehicle.ecu_by_doip(target)
        if ecu is None:
            conn.send(T_DIAG_NACK, struct.pack("!HHB", target, source, 0x03))
            return True
        if not self.vehicle.pass_frame("to_vehicle"):
            return True
        conn.send(T_DIAG_ACK, struct.pack("!HHB", target, source, 0x00))
        inbox = conn.inboxes.get(target)
        if inbox is None:
            inbox = conn.inboxes[target] = queue.SimpleQueue()
            self._spawn(self._ecu_worker, f"sim-doip-{ecu.name}", conn, ecu, inbox, source)
        inbox.put(data)
        return True

    def _ecu_worker(
        self, conn: _Connection, ecu: SimEcu, inbox: queue.SimpleQueue[bytes | None], tester: int
    ) -> None:
        header = struct.pack("!HH", ecu.info.doip_address, tester)

        def send(response: bytes) -> None:
            if not self.vehicle.pass_frame("from_vehicle"):
                return
            with contextlib.suppress(_Closed):
                conn.send(T_DIAG, header + response)

        while True:
            data = inbox.get()
            if data is None or conn.closed:
                return
            try:
                ecu.handle(data, send)
            except Exception:
                log.exception("simulated %s failed on request %s", ecu.name, data[:8].hex())

    # ------------------------------------------------------------------ UDP

    def _udp_loop(self) -> None:
        udp = self._udp
        assert udp is not None
        while not self._stopping.is_set():
            try:
                data, peer = udp.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < HEADER.size:
                continue
            version, inverse, ptype, length = HEADER.unpack_from(data)
            if version ^ 0xFF != inverse:
                continue
            payload = data[HEADER.size : HEADER.size + length]
            reply_version = 0x02 if version == 0xFF else version
            answer: tuple[int, bytes] | None = None
            vin = self.vehicle.vin.encode("ascii")
            if ptype in (T_VEHICLE_ID_REQ, T_VEHICLE_ID_REQ_EID, T_VEHICLE_ID_REQ_VIN):
                if (ptype == T_VEHICLE_ID_REQ_VIN and payload != vin) or (
                    ptype == T_VEHICLE_ID_REQ_EID and payload != EID
                ):
                    continue
                answer = (
                    T_VEHICLE_ID_RESP,
                    struct.pack("!17sH6s6sBB", vin, self.logical_address, EID, GID, 0, 0),
                )
            elif ptype == T_ENTITY_STATUS_REQ:
                with self._lock:
                    open_sockets = len(self._connections)
                answer = (
                    T_ENTITY_STATUS_RESP,
                    struct.pack("!BBBI", 0, MAX_SOCKETS, open_sockets, MAX_PAYLOAD),
                )
            elif ptype == T_POWER_MODE_REQ:
                answer = (T_POWER_MODE_RESP, b"\x01")
            if answer is not None:
                ptype_out, body = answer
                packet = HEADER.pack(reply_version, reply_version ^ 0xFF, ptype_out, len(body))
                with contextlib.suppress(OSError):
                    udp.sendto(packet + body, peer)
