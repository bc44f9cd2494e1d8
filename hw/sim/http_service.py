"""What the simulated services over HTTP share (the connected-car backend, the payment
provider): their signing secret, and serving until stopped with a line once they are ready."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette


def secret_from(secret_file: str | None, variable: str) -> str:
    """The signing secret: from `secret_file`, else from the environment variable."""
    if secret_file:
        return Path(secret_file).read_text().strip()
    value = os.environ.get(variable)
    if not value:
        raise SystemExit(f"give --secret-file or {variable}")
    return value


async def serve(app: Starlette, listen: str, name: str) -> None:
    """Serve `app` on `listen` (HOST:PORT); print `<name> ready http://HOST:PORT` once it
    accepts requests."""
    host, _, port = listen.rpartition(":")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=int(port), log_level="warning"))
    serving = asyncio.create_task(server.serve())
    for _ in range(600):  # 30 s for the port to open
        if server.started or serving.done():
            break
        await asyncio.sleep(0.05)
    if server.started:
        print(f"{name} ready http://{host}:{port}", flush=True)
    await serving
