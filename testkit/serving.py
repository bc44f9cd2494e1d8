"""The API and ports for tests and benchmarks: the app in-process over ASGI or over real HTTP."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette

_handed_out: set[int] = set()


@functools.cache
def _this_processes_ports() -> range:
    """Ports below the kernel's own pick range; under pytest-xdist each worker takes its own
    slice of them, so two workers never hand out the same port."""
    lowest_picked = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    lowest = 1_024 if lowest_picked < 21_024 else 20_000
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    size = (lowest_picked - lowest) // workers
    start = lowest + int(worker.removeprefix("gw")) * size
    return range(start, start + size)


def free_port() -> int:
    """A port nobody listens on, below the kernel's range for ports it picks itself.

    A port the kernel picked (bind to 0) is free only until the next such pick: the Temporal
    dev server binds several random ports of its own, and took a port handed to the API before
    the API bound it. Below that range only a process told the port can take it.
    """
    ports = _this_processes_ports()
    while True:
        port = random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


@asynccontextmanager
async def running_api(
    app: FastAPI, client_ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, called in-process like a real client at `client_ip`."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@asynccontextmanager
async def serving_api(app: Starlette, port: int | None = None) -> AsyncIterator[str]:
    """The app over real HTTP on a free port (or `port`, from `free_port()`, for a caller that
    must know the address before the app exists), for callers in other processes or threads
    (the `aos` client, a station worker, a browser); its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the API did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
