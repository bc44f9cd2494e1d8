"""Teleservice figures, measured on SQLite and the Temporal dev server.

- `inbound_messages_per_s`: signed Teleservice Calls accepted and processed per second
  through `POST /teleservices/messages`, sustained for `SUSTAIN_S` seconds by `SENDERS`
  concurrent senders. Each message is verified (Standard Webhooks HMAC-SHA256, timestamp,
  size), stored once by its `webhook-id`, and its due item signalled with start to the car's
  ticket (TeleserviceTicketWorkflow) before the API answers 202: an answered message is
  processed. The calls go to `len(demo cars) * len(ITEMS)` tickets, so most are added to a
  running ticket, as a fleet calling again and again would. Afterwards the tickets' call
  counts are checked against the accepted messages (stderr): each counted once.

The API runs in this process over ASGI, the portal worker in a process of its own
(`worker.py portal`), as `bench_api` does. Run it alone with
`.venv/bin/python -m bench inbound_messages_per_s`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.bench_api import portal_worker_process, stack
from db.models import InboundMessage, TeleserviceTicketRecord
from db.seed import seed_demo_vehicles
from db.teleservices import TeleserviceRepository
from domain.demo_vehicles import load_demo_vehicles
from portal_app import create_app
from testkit.connected_car import INBOUND_PATH, signed, teleservice_call
from testkit.factories import create_workshop
from testkit.serving import running_api

SENDERS = 8
SUSTAIN_S = 30.0
ITEMS = ("engine_oil", "brake_fluid", "vehicle_check", "microfilter")
SETTLE_S = 60.0  # for the tickets to have recorded every call before they are counted


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr)


async def inbound_messages_per_s() -> float:
    async with stack() as bench:
        await seed_demo_vehicles(bench.session_factory)
        partner = await create_workshop(bench.session_factory, "Bench Partner")
        repository = TeleserviceRepository(bench.session_factory)
        vins = [vehicle.vin for vehicle in load_demo_vehicles()]
        for vin in vins:
            assert await repository.assign_service_partner(vin, partner, datetime.now(UTC))
        secret = bench.settings.teleservice_secret()
        app = create_app(bench.settings, temporal=bench.client)
        async with portal_worker_process(bench), running_api(app) as api:
            accepted = 0
            refused = 0
            deadline = time.perf_counter() + SUSTAIN_S

            async def sender(number: int) -> None:
                nonlocal accepted, refused
                sent = 0
                while time.perf_counter() < deadline:
                    vin = vins[(number + sent) % len(vins)]
                    item = ITEMS[(number * 7 + sent) % len(ITEMS)]
                    body, headers = signed(secret, teleservice_call(vin, [item]))
                    answer = await api.post(INBOUND_PATH, content=body, headers=headers)
                    sent += 1
                    if answer.status_code == 202:
                        accepted += 1
                    else:
                        refused += 1
                        _note(f"refused: {answer.status_code} {answer.text[:200]}")

            began = time.perf_counter()
            await asyncio.gather(*(sender(n) for n in range(SENDERS)))
            elapsed = time.perf_counter() - began
            rate = accepted / elapsed
            _note(f"{accepted} accepted, {refused} refused in {elapsed:.1f}s by {SENDERS} senders")
            await _check_each_counted_once(bench.session_factory, accepted)
            return rate


async def _check_each_counted_once(
    factory: async_sessionmaker[AsyncSession], accepted: int
) -> None:
    """The tickets' recorded calls add up to the accepted messages (each processed once)."""
    settle = time.monotonic() + SETTLE_S
    while True:
        async with factory() as session:
            stored = int(
                await session.scalar(select(func.count()).select_from(InboundMessage)) or 0
            )
            calls = int(await session.scalar(select(func.sum(TeleserviceTicketRecord.calls))) or 0)
        if calls >= accepted or time.monotonic() > settle:
            break
        await asyncio.sleep(0.5)
    _note(f"stored {stored} messages; the tickets recorded {calls} calls (accepted {accepted})")
    if stored != accepted or calls != accepted:
        raise RuntimeError(f"processed not exactly once: {stored} stored, {calls} counted")


FIGURES: dict[str, Callable[[], Awaitable[float]]] = {
    "inbound_messages_per_s": inbound_messages_per_s,
}


async def run() -> dict[str, float]:
    return {name: await measure() for name, measure in FIGURES.items()}


if __name__ == "__main__":
    for key, value in asyncio.run(run()).items():
        print(f"{key}: {value:.4g}")
