"""`python -m bench.write_load DATABASE_URL WORKSHOP_ID USER_ID RATE`: the write load of
`bench_api.read_rate_under_writes`, in a process of its own as the portal worker is.

It prints `ready` once connected, then obeys one command a line on stdin: `go` starts
`WRITERS` concurrent top-up loops (the repository's real write transaction: lock the account,
check the idempotency key, append to the ledger) that together write RATE top-ups a second,
`stop` stops them and prints how many top-ups were written. End of input ends the process.

A steady rate, not as many as possible: a writer that takes a whole core of a 2-core machine
measures how the machine shares its cores more than whether reads wait for the write lock.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from application.payments import SandboxPaymentGateway
from db.access_repository import AccessRepository
from db.engine import create_engine, create_session_factory

WRITERS = 4


async def _write_until(
    stopping: asyncio.Event,
    repository: AccessRepository,
    workshop_id: str,
    user_id: str,
    interval: float,
) -> int:
    gateway = SandboxPaymentGateway()
    loop = asyncio.get_running_loop()
    written, due = 0, loop.time()
    while not stopping.is_set():
        await repository.top_up(
            workshop_id, f"bench-{uuid.uuid4().hex}", 100, None, user_id, gateway
        )
        written += 1
        due += interval
        await asyncio.sleep(max(0.0, due - loop.time()))
    return written


async def main(database_url: str, workshop_id: str, user_id: str, rate: float) -> None:
    engine = create_engine(database_url)
    repository = AccessRepository(create_session_factory(engine))
    loop = asyncio.get_running_loop()
    writers: list[asyncio.Task[int]] = []
    stopping = asyncio.Event()
    print("ready", flush=True)
    try:
        while command := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if command == "go":
                stopping.clear()
                writers = [
                    asyncio.create_task(
                        _write_until(stopping, repository, workshop_id, user_id, WRITERS / rate)
                    )
                    for _ in range(WRITERS)
                ]
            elif command == "stop":
                stopping.set()
                print(sum(await asyncio.gather(*writers)), flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    database_url, workshop_id, user_id, rate = sys.argv[1:5]
    asyncio.run(main(database_url, workshop_id, user_id, float(rate)))
