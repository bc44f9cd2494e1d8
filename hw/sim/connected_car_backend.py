"""A simulated connected-car backend: the carmaker's servers that connected cars talk to, as a
small HTTP service of its own, standing in for the real one in `make dev` and the tests.

It speaks to the portal only over HTTP, both ways signed by the Standard Webhooks scheme with
the portal's teleservice secret (domain.signed_messages):

- the portal sends it remote key-read requests: `POST /key-read-requests`
  (`{"request_id", "vin", "deadline_at"}`); a request is kept until the car wakes up;
- a simulated car wakes up on command (`POST /cars/{vin}/wake`) or on the script
  (`--wake-every SECONDS`: every car, that often). Awake, it answers its pending key reads
  (a `key_read` message with its key data) and sends a Teleservice Call for its due CBS items
  (`PUT /cars/{vin}` with `{"due": ["engine_oil", ...]}` sets them) to the portal's inbound
  endpoint `POST /teleservices/messages`;
- `POST /cars/{vin}/facts` sends the car's teleservice facts (capable, contract, partner).

The cars are the demo vehicles (domain/data/demo_vehicles.json). Run it:

    python -m hw.sim.connected_car_backend --listen 127.0.0.1:8300 \\
        --portal http://127.0.0.1:8000 [--wake-every 180]

with the secret in `AOS_TELESERVICE_WEBHOOK_SECRET` or `--secret-file` (the embedded mode's
`.data/teleservice-webhook-secret`). It prints `connected-car backend ready http://HOST:PORT`
once it accepts requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.demo_vehicles import load_demo_vehicles
from domain.errors import DomainError
from domain.key_data import KeyData
from domain.signed_messages import SignedHeaders, verify
from hw.sim.http_service import post_signed, run_service, secret_from, serve, service_arguments

log = logging.getLogger("hw.sim.connected_car_backend")
INBOUND_PATH = "/teleservices/messages"
ITEM_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


@dataclass
class SimulatedCar:
    vin: str
    key: KeyData
    due: list[str] = field(default_factory=list)
    teleservice_capable: bool = True
    connected_drive_contract: bool = True
    remote_key_read_capable: bool = True
    service_partner_id: str | None = None
    wakes: int = 0


class KeyReadRequest(BaseModel):
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    vin: str = Field(min_length=17, max_length=17)
    deadline_at: datetime


class CarSettings(BaseModel):
    due: list[str] | None = Field(default=None, max_length=64)
    teleservice_capable: bool | None = None
    connected_drive_contract: bool | None = None
    remote_key_read_capable: bool | None = None
    service_partner_id: str | None = Field(default=None, max_length=64)


class WakeReport(BaseModel):
    vin: str
    key_reads_answered: list[str]
    teleservice_call: str | None = Field(description="The message id of the call sent, if any")


class ConnectedCarBackend:
    """The backend's state: its cars and the key-read requests that wait for them."""

    def __init__(self, portal_url: str, secret: str, client: httpx.AsyncClient | None = None):
        self.portal_url = portal_url.rstrip("/")
        self.secret = secret
        self.cars = {v.vin: SimulatedCar(v.vin, v.key_data()) for v in load_demo_vehicles()}
        self.pending: dict[str, KeyReadRequest] = {}
        self._client = client
        self._lock = asyncio.Lock()

    async def deliver(self, payload: dict[str, Any], message_id: str) -> int:
        """POST one signed message to the portal; its status (a 409 replay counts as
        delivered: the portal has it)."""
        body = json.dumps(payload).encode()
        client = self._client or httpx.AsyncClient(timeout=20)
        try:
            answer = await post_signed(
                client, self.portal_url + INBOUND_PATH, self.secret, message_id, body
            )
        finally:
            if self._client is None:
                await client.aclose()
        if answer.status_code not in (202, 409):
            log.warning("the portal refused %s: %s %s", message_id, answer.status_code, answer.text)
        return answer.status_code

    async def wake(self, vin: str) -> WakeReport:
        """The car wakes up (unlocked, driven): it answers the key reads that wait for it and
        calls in its due items."""
        async with self._lock:
            car = self.cars[vin]
            car.wakes += 1
            answered = []
            for request in [r for r in self.pending.values() if r.vin == vin]:
                if request.deadline_at < datetime.now(UTC):
                    del self.pending[request.request_id]
                    continue
                status = await self.deliver(
                    {
                        "kind": "key_read",
                        "vin": vin,
                        "sent_at": datetime.now(UTC).isoformat(),
                        "mileage_km": car.key.mileage_km,
                        "request_id": request.request_id,
                        "key": car.key.model_dump(mode="json"),
                    },
                    f"kr_{request.request_id}",
                )
                if status in (202, 409):
                    del self.pending[request.request_id]
                    answered.append(request.request_id)
            call_id = None
            if car.due:
                call_id = f"tc_{uuid.uuid4().hex}"
                await self.deliver(
                    {
                        "kind": "teleservice_call",
                        "vin": vin,
                        "sent_at": datetime.now(UTC).isoformat(),
                        "mileage_km": car.key.mileage_km,
                        "cbs": [{"cbs_id": item, "status": "due"} for item in car.due],
                        "check_control": [],
                    },
                    call_id,
                )
            return WakeReport(vin=vin, key_reads_answered=answered, teleservice_call=call_id)

    async def send_facts(self, vin: str) -> int:
        car = self.cars[vin]
        return await self.deliver(
            {
                "kind": "vehicle_facts",
                "vin": vin,
                "sent_at": datetime.now(UTC).isoformat(),
                "teleservice_capable": car.teleservice_capable,
                "connected_drive_contract": car.connected_drive_contract,
                "remote_key_read_capable": car.remote_key_read_capable,
                "service_partner_id": car.service_partner_id,
            },
            f"vf_{uuid.uuid4().hex}",
        )

    async def wake_every(self, seconds: float) -> None:
        """The demo's script: every car wakes up this often."""
        while True:
            await asyncio.sleep(seconds)
            for vin in list(self.cars):
                try:
                    await self.wake(vin)
                except httpx.HTTPError as error:  # the portal is restarting: next time
                    log.warning("waking %s: the portal did not answer (%s)", vin, error)


def create_backend_app(backend: ConnectedCarBackend) -> Starlette:
    """The backend's HTTP service (plain Starlette: the simulator is no part of the portal)."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"cars": len(backend.cars), "pending_key_reads": len(backend.pending)})

    async def key_read_request(request: Request) -> JSONResponse:
        body = await request.body()
        headers = SignedHeaders(
            request.headers.get("webhook-id"),
            request.headers.get("webhook-timestamp"),
            request.headers.get("webhook-signature"),
        )
        try:
            verify(backend.secret, headers, body, datetime.now(UTC))
        except DomainError as error:
            return JSONResponse({"detail": error.detail}, status_code=401)
        try:
            wanted = KeyReadRequest.model_validate_json(body)
        except ValidationError as error:
            return JSONResponse({"detail": str(error)}, status_code=422)
        if wanted.vin not in backend.cars:
            return JSONResponse({"detail": f"no simulated car {wanted.vin}"}, status_code=404)
        backend.pending[wanted.request_id] = wanted  # a repeated request is the same one
        return JSONResponse({"request_id": wanted.request_id, "state": "pending"}, 202)

    async def configure(request: Request) -> JSONResponse:
        car = backend.cars.get(request.path_params["vin"])
        if car is None:
            return JSONResponse({"detail": "no such simulated car"}, status_code=404)
        try:
            settings = CarSettings.model_validate_json(await request.body())
        except ValidationError as error:
            return JSONResponse({"detail": str(error)}, status_code=422)
        for name, value in settings.model_dump(exclude_unset=True).items():
            setattr(car, name, value)
        return JSONResponse({"vin": car.vin, "due": car.due})

    async def wake(request: Request) -> JSONResponse:
        vin = request.path_params["vin"]
        if vin not in backend.cars:
            return JSONResponse({"detail": "no such simulated car"}, status_code=404)
        report = await backend.wake(vin)
        return JSONResponse(report.model_dump(mode="json"))

    async def facts(request: Request) -> JSONResponse:
        vin = request.path_params["vin"]
        if vin not in backend.cars:
            return JSONResponse({"detail": "no such simulated car"}, status_code=404)
        return JSONResponse({"portal_status": await backend.send_facts(vin)})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/key-read-requests", key_read_request, methods=["POST"]),
            Route("/cars/{vin}", configure, methods=["PUT"]),
            Route("/cars/{vin}/wake", wake, methods=["POST"]),
            Route("/cars/{vin}/facts", facts, methods=["POST"]),
        ]
    )


async def _serve(args: argparse.Namespace) -> None:
    secret = secret_from(args.secret_file, "AOS_TELESERVICE_WEBHOOK_SECRET")
    backend = ConnectedCarBackend(args.portal, secret)

    @contextlib.asynccontextmanager
    async def script() -> AsyncIterator[None]:
        task = asyncio.create_task(backend.wake_every(args.wake_every)) if args.wake_every else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    async with script():
        await serve(create_backend_app(backend), args.listen, "connected-car backend")


def main(argv: list[str] | None = None) -> int:
    parser = service_arguments(
        "hw.sim.connected_car_backend",
        __doc__.split("\n\n")[0],  # the first paragraph: argparse reflows it
        listen="127.0.0.1:8300",
        secret_help="the teleservice webhook secret's file",
    )
    parser.add_argument(
        "--wake-every", type=float, default=0, help="wake every car this often (seconds)"
    )
    return run_service(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
