"""A station worker in a process of its own, for the benchmarks.

In a workshop the station worker runs on the workshop PC: its UDS work never shares the
portal's interpreter. The throughput figures run it so, as they run the car (`car_process`):
the portal (API and portal worker) in the benchmark's process, the station here, the car in a
third; the plain loop they compare with runs alone in the benchmark's process.

    python -m bench.station_process --station-id ID --vehicle URL --packages DIR --traces DIR
        (--temporal HOST:PORT | --gateway HOST:PORT --token TOKEN --data-dir DIR)

Prints `station ready` once its worker runs; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from temporalio.client import Client

from settings import Settings
from station.worker import StationDependencies, station_worker
from temporal_client import connect_through_gateway, data_converter


async def _serve(arguments: argparse.Namespace) -> None:
    if arguments.gateway:
        settings = Settings(data_dir=Path(arguments.data_dir))
        client = await connect_through_gateway(settings, arguments.token, address=arguments.gateway)
    else:
        client = await Client.connect(arguments.temporal, data_converter=data_converter())
    deps = StationDependencies(
        arguments.station_id, arguments.vehicle, Path(arguments.packages), Path(arguments.traces)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with station_worker(client, deps, arguments.task_queue):
        print("station ready", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.station_process", description=__doc__)
    parser.add_argument("--station-id", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--vehicle", required=True)
    parser.add_argument("--packages", required=True)
    parser.add_argument("--traces", required=True)
    parser.add_argument("--temporal")
    parser.add_argument("--gateway")
    parser.add_argument("--token")
    parser.add_argument("--data-dir")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
