"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
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
async def serving_api(app: FastAPI) -> AsyncIterator[str]:
    """The app over real HTTP on a free port, for callers in other processes or threads (the
    `aos` client, a station worker); its base URL."""
    port = free_port()
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
