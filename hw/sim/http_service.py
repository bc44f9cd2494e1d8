"""What the simulated services over HTTP share (the connected-car backend, the payment
provider): their command line, their signing secret, the signed messages they send the portal,
and serving until stopped with a line once they are ready."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from domain.signed_messages import sign


def service_arguments(
    module: str, description: str, *, listen: str, secret_help: str
) -> argparse.ArgumentParser:
    """The command line of a simulated service: where it listens, where the portal is, and the
    file of the secret it signs with (without one: the environment variable, see
    :func:`secret_from`)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--listen", default=listen, help="HOST:PORT to serve on")
    parser.add_argument("--portal", default="http://127.0.0.1:8000", help="the portal's URL")
    parser.add_argument("--secret-file", help=secret_help)
    return parser


def run_service(service: Coroutine[Any, Any, None]) -> int:
    """Run a simulated service, logging to stderr, until it ends or Ctrl-C; the exit status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(service)
    return 0


def secret_from(secret_file: str | None, variable: str) -> str:
    """The signing secret: from `secret_file`, else from the environment variable."""
    if secret_file:
        return Path(secret_file).read_text().strip()
    value = os.environ.get(variable)
    if not value:
        raise SystemExit(f"give --secret-file or {variable}")
    return value


async def post_signed(
    client: httpx.AsyncClient, url: str, secret: str, message_id: str, body: bytes
) -> httpx.Response:
    """POST one JSON message to the portal, signed by the Standard Webhooks scheme
    (domain.signed_messages) with `secret`; the portal's answer."""
    headers = sign(secret, message_id, datetime.now(UTC), body)
    return await client.post(
        url, content=body, headers={**headers, "Content-Type": "application/json"}
    )


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
