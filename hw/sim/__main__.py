"""Run a simulated vehicle standalone.

    python -m hw.sim --doip 127.0.0.1:13400 [--state FILE] [--vin VIN]
                     [--can socketcan/vcan0] [--fd] [--s3 5.0] [--erase-time 0.02]
                     [--timing-scale 0.01] [--lax-fingerprint]

Prints one line ``hw.sim ready doip=doip://127.0.0.1:13400 ...`` on stdout once it
accepts connections (port 0 picks a free port, read it from that line). SIGTERM/SIGINT
save the state file (if any) and exit; the state is also saved shortly after every change.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from hw.sim.config import default_vehicle_config
from hw.sim.vehicle import SimVehicle


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.sim", description=__doc__.split("\n")[0])
    parser.add_argument("--doip", type=_host_port, help="serve DoIP on HOST:PORT")
    parser.add_argument("--can", help="serve on python-can INTERFACE/CHANNEL, e.g. socketcan/vcan0")
    parser.add_argument("--fd", action="store_true", help="CAN FD on --can")
    parser.add_argument("--state", help="load/save vehicle state in this file")
    parser.add_argument("--vin", help="VIN of a new vehicle (ignored when the state file exists)")
    parser.add_argument("--s3", type=float, help="S3 session timeout in seconds")
    parser.add_argument("--erase-time", type=float, help="base erase time in seconds")
    parser.add_argument(
        "--timing-scale",
        type=float,
        help="the ECUs' timing model (erase, write, check, reset): 0 off (default), 1 real "
        "time, 0.01 a hundred times faster",
    )
    parser.add_argument(
        "--lax-fingerprint",
        action="store_true",
        help="ECUs accept erase and download without a fingerprint in the session",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.doip and not args.can:
        parser.error("give --doip and/or --can")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    overrides: dict[str, object] = {}
    if args.vin:
        overrides["vin"] = args.vin
    if args.s3 is not None:
        overrides["s3_timeout"] = args.s3
    if args.timing_scale is not None:
        if args.timing_scale < 0:
            parser.error("--timing-scale must be >= 0")
        overrides["timing_scale"] = args.timing_scale
    config = default_vehicle_config(**overrides)
    if args.erase_time is not None:
        for ecu in config.ecus:
            ecu.erase_time = args.erase_time
    if args.lax_fingerprint:
        for ecu in config.ecus:
            ecu.require_fingerprint = False

    vehicle = SimVehicle(config, state_file=args.state)
    parts = [f"vin={vehicle.vin}"]
    if args.doip:
        server = vehicle.serve_doip(*args.doip)
        parts.append(f"doip={server.url}")
    if args.can:
        interface, _, channel = args.can.partition("/")
        vehicle.attach_can(channel, interface=interface, fd=args.fd)
        parts.append(f"can={args.can}")

    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("hw.sim ready " + " ".join(parts), flush=True)
    while not done.wait(0.5):
        pass
    vehicle.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
