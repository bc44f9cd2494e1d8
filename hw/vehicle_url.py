"""Vehicle URLs: where a station finds the car.

Forms::

    sim://                      in-process simulated vehicle (fresh, private to the link)
    sim://?name=bench1          named simulated vehicle, shared in this process and kept
                                after the link closes (see hw.sim.registry)
    sim://?name=b1&state=/p/f   ... loaded from / saved to a state file
    can://virtual/vcan0         python-can interface "virtual", channel "vcan0"
    can://socketcan/can0?fd=1   python-can socketcan, CAN FD
    doip://127.0.0.1:13400      DoIP (ICOM-style), default port 13400
    doip://[::1]:13400?tester=0x0E01   other tester logical address

Query parameters: ``sim``: name, state, fd (default 1); ``can``: fd (default 0);
``doip``: tester (client logical address, default 0x0E00).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

Scheme = Literal["sim", "can", "doip"]

DEFAULT_DOIP_PORT = 13400
DEFAULT_TESTER_ADDRESS = 0x0E00

_ALLOWED_QUERY: dict[str, frozenset[str]] = {
    "sim": frozenset({"name", "state", "fd"}),
    "can": frozenset({"fd"}),
    "doip": frozenset({"tester"}),
}


@dataclass(frozen=True)
class VehicleUrl:
    """A parsed vehicle URL. Only the fields of its scheme are set."""

    scheme: Scheme
    raw: str
    # sim
    name: str | None = None
    state_file: str | None = None
    # can (and sim, which runs over a virtual CAN bus)
    interface: str | None = None
    channel: str | None = None
    fd: bool = False
    # doip
    host: str | None = None
    port: int | None = None
    tester_address: int = DEFAULT_TESTER_ADDRESS

    def __str__(self) -> str:
        return self.raw


def _bool(value: str, what: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{what}: expected 0/1/true/false, got {value!r}")


def _query(url: str, scheme: str, query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ValueError(f"vehicle URL {url!r}: malformed query string {query!r}") from exc
    result: dict[str, str] = {}
    for key, values in parsed.items():
        if key not in _ALLOWED_QUERY[scheme]:
            allowed = ", ".join(sorted(_ALLOWED_QUERY[scheme])) or "none"
            raise ValueError(
                f"vehicle URL {url!r}: unknown parameter {key!r} for {scheme}:// (allowed: {allowed})"
            )
        if len(values) != 1:
            raise ValueError(f"vehicle URL {url!r}: parameter {key!r} given more than once")
        result[key] = values[0]
    return result


def _valid_can_interfaces() -> frozenset[str]:
    import can  # local import: parsing a doip:// URL should not need python-can

    return frozenset(can.interfaces.VALID_INTERFACES)


def parse_vehicle_url(url: str) -> VehicleUrl:
    """Parse a vehicle URL; raises ``ValueError`` naming what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("vehicle URL is empty")
    url = url.strip()
    if "://" not in url:
        raise ValueError(
            f"vehicle URL {url!r}: missing scheme, expected sim://, can://<interface>/<channel> "
            "or doip://<host>:<port>"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if parts.fragment:
        raise ValueError(f"vehicle URL {url!r}: fragments (#...) are not allowed")

    if scheme == "sim":
        if parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"vehicle URL {url!r}: sim:// takes no host or path, only ?name=...")
        q = _query(url, "sim", parts.query)
        name = q.get("name")
        if name is not None and not name.strip():
            raise ValueError(f"vehicle URL {url!r}: empty sim name")
        state = q.get("state")
        if state is not None and not state.strip():
            raise ValueError(f"vehicle URL {url!r}: empty state file")
        if state is not None and name is None:
            raise ValueError(f"vehicle URL {url!r}: state= needs a name= (the vehicle is shared)")
        fd = _bool(q["fd"], f"vehicle URL {url!r}: fd") if "fd" in q else True
        return VehicleUrl(
            scheme="sim", raw=url, name=name, state_file=state, interface="virtual", fd=fd
        )

    if scheme == "can":
        interface = parts.netloc
        if not interface:
            raise ValueError(
                f"vehicle URL {url!r}: missing python-can interface, e.g. can://socketcan/can0"
            )
        valid = _valid_can_interfaces()
        if interface not in valid:
            raise ValueError(
                f"vehicle URL {url!r}: unknown python-can interface {interface!r} "
                f"(known: {', '.join(sorted(valid))})"
            )
        channel = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if not channel:
            raise ValueError(f"vehicle URL {url!r}: missing channel, e.g. can://{interface}/can0")
        q = _query(url, "can", parts.query)
        fd = _bool(q["fd"], f"vehicle URL {url!r}: fd") if "fd" in q else False
        return VehicleUrl(scheme="can", raw=url, interface=interface, channel=channel, fd=fd)

    if scheme == "doip":
        if parts.path not in ("", "/"):
            raise ValueError(f"vehicle URL {url!r}: doip:// takes no path")
        try:
            host = parts.hostname
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"vehicle URL {url!r}: invalid port ({exc})") from exc
        if not host:
            raise ValueError(f"vehicle URL {url!r}: missing host, e.g. doip://192.168.0.10:13400")
        if parts.username or parts.password:
            raise ValueError(f"vehicle URL {url!r}: credentials are not allowed in the URL")
        if port is None:
            port = DEFAULT_DOIP_PORT
        if not 1 <= port <= 65535:
            raise ValueError(f"vehicle URL {url!r}: port must be 1..65535")
        q = _query(url, "doip", parts.query)
        tester = DEFAULT_TESTER_ADDRESS
        if "tester" in q:
            try:
                tester = int(q["tester"], 0)
            except ValueError as exc:
                raise ValueError(f"vehicle URL {url!r}: tester must be an integer") from exc
            if not 0x0E00 <= tester <= 0x0FFF:
                raise ValueError(
                    f"vehicle URL {url!r}: tester address must be in 0x0E00..0x0FFF (ISO 13400)"
                )
        return VehicleUrl(scheme="doip", raw=url, host=host, port=port, tester_address=tester)

    raise ValueError(
        f"vehicle URL {url!r}: unsupported scheme {parts.scheme!r} (use sim, can or doip)"
    )
