"""The `make dev` supervisor: keeps every part of the embedded product running until Ctrl-C.

A part that exits is started again after a delay that doubles with each crash in a row
(`restart_delay`), up to a ceiling; a part that then runs without trouble for a while starts its
count anew (`crashes_in_a_row`). A part with a health check that fails several times in a row is
frozen or wedged: it is killed with SIGKILL (a stopped process never acts on SIGTERM) and started
again the same way. Each of these decisions is logged with its reason. Only `stop_all` (Ctrl-C or
SIGTERM to `worker.py dev`) stops the parts for good. The health checks of the embedded
product's parts (Temporal, the API, the gateway) are at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from settings import Settings

HealthCheck = Callable[[], Awaitable[None]]
"""Returns when the part answers; raises (or is timed out) when it does not."""

HEALTH_CHECK_TIMEOUT_SECONDS = 3.0
# A part may take this long to answer its first health check (Temporal's dev server on a busy
# machine); failed checks count only after its first answer or once this grace has passed.
START_GRACE_SECONDS = 60.0


def restart_delay(crashes_in_a_row: int, initial: float, maximum: float) -> float:
    """Seconds to wait before starting a part again after its n-th crash in a row (n >= 1)."""
    doublings = min(max(0, crashes_in_a_row - 1), 32)  # 2**32 outgrows any ceiling already
    return min(maximum, initial * 2**doublings)


def crashes_in_a_row(previous: int, untroubled_for: float, stable_after: float) -> int:
    """The count of crashes in a row, this one included: a part that ran without trouble for
    `stable_after` seconds before this crash starts again at 1 (the shortest delay)."""
    return 1 if untroubled_for >= stable_after else previous + 1


@dataclass(frozen=True)
class RestartPolicy:
    """How quickly crashed parts come back and when a silent one counts as frozen."""

    initial_delay: float = 1.0
    maximum_delay: float = 60.0
    health_interval: float = 5.0
    health_failures: int = 3
    stable_after: float = 60.0


@dataclass
class Part:
    """One child process of `make dev`, and what the supervisor knows about it."""

    name: str
    command: list[str]
    env: dict[str, str] | None = None
    health: HealthCheck | None = None
    process: subprocess.Popen[bytes] | None = None
    untroubled_since: float = 0.0
    started_at: float = 0.0
    answered_once: bool = False
    crashes: int = 0
    failed_checks: int = 0
    restart_at: float | None = None
    next_check_at: float = 0.0
    check: asyncio.Task[None] | None = field(default=None, repr=False)


def _log(message: str) -> None:
    print(f"make dev: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Starts the parts, restarts any that crash or freeze, and stops them all on request."""

    def __init__(
        self, policy: RestartPolicy | None = None, log: Callable[[str], None] = _log
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.parts: list[Part] = []
        self.log = log

    def start(self, part: Part) -> None:
        """Start `part` now and keep it running from here on."""
        self.parts.append(part)
        self._spawn(part)

    def first_dead(self) -> tuple[str, int] | None:
        """A part that exited and is not yet started again: its name and exit code."""
        for part in self.parts:
            code = part.process.poll() if part.process else None
            if code is not None and part.restart_at is None:
                return part.name, code
        return None

    async def wait_until_up(self, seconds: float, up: HealthCheck, stop: asyncio.Event) -> None:
        """Until `up()` succeeds; fails when a part dies first or `seconds` pass.

        A part that cannot start at all (a port in use, a broken database) is a set-up error to
        report, not a crash to retry: restarting begins once everything has come up once.
        """
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            dead = self.first_dead()
            if dead:
                raise RuntimeError(f"{dead[0]} exited with code {dead[1]} while starting")
            try:
                return await up()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def watch(self, stop: asyncio.Event) -> None:
        """Restart crashed and frozen parts until `stop` is set."""
        try:
            while not stop.is_set():
                now = time.monotonic()
                for part in self.parts:
                    self._tend(part, now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.2)
        finally:
            for part in self.parts:
                if part.check:
                    part.check.cancel()

    def stop_all(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM to every part (the last started first), SIGKILL to those still up after
        `grace_seconds`."""
        running = [p.process for p in reversed(self.parts) if p.process]
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace_seconds
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait()

    # --- one part ----------------------------------------------------------------------------

    def _spawn(self, part: Part) -> None:
        environment = {**os.environ, **part.env} if part.env else None
        part.process = subprocess.Popen(part.command, env=environment)
        now = time.monotonic()
        part.started_at = part.untroubled_since = now
        part.answered_once, part.failed_checks, part.restart_at = False, 0, None
        part.next_check_at = now + self.policy.health_interval

    def _tend(self, part: Part, now: float) -> None:
        if part.restart_at is not None:
            if now >= part.restart_at:
                self.log(f"starting {part.name} again")
                self._spawn(part)
            return
        assert part.process is not None
        code = part.process.poll()
        if code is not None:
            self._schedule_restart(part, now, f"{part.name} exited with code {code}")
            return
        if part.check and part.check.done():
            self._judge_check(part, now)
        if part.health and not part.check and now >= part.next_check_at:
            part.check = asyncio.create_task(
                asyncio.wait_for(part.health(), HEALTH_CHECK_TIMEOUT_SECONDS)
            )

    def _judge_check(self, part: Part, now: float) -> None:
        assert part.check is not None and part.process is not None
        error = part.check.exception() if not part.check.cancelled() else None
        part.check = None
        part.next_check_at = now + self.policy.health_interval
        if error is None:
            if not part.answered_once:  # once per start: operators (and tests) see it is back
                self.log(f"{part.name} answers its health check")
            part.answered_once, part.failed_checks = True, 0
            return
        part.untroubled_since = now
        if not part.answered_once and now - part.started_at < START_GRACE_SECONDS:
            return  # still starting
        part.failed_checks += 1
        if part.failed_checks < self.policy.health_failures:
            return
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        part.process.kill()
        part.process.wait()
        self._schedule_restart(
            part,
            now,
            f"{part.name} is not answering its health check "
            f"({part.failed_checks} times in a row, last: {reason}); killed it",
        )

    def _schedule_restart(self, part: Part, now: float, why: str) -> None:
        if part.check:  # it was asked of the process that is gone
            part.check.cancel()
            part.check = None
        part.crashes = crashes_in_a_row(
            part.crashes, now - part.untroubled_since, self.policy.stable_after
        )
        delay = restart_delay(part.crashes, self.policy.initial_delay, self.policy.maximum_delay)
        part.restart_at = now + delay
        self.log(f"{why}; starting it again in {delay:.1f}s")


# --- the parts' health checks (`worker.py dev`) ------------------------------------------


async def temporal_answers(settings: Settings) -> None:
    """Temporal's frontend answers (GetSystemInfo on connecting, then the gRPC health check)."""
    from temporal_client import connect_temporal

    client = await connect_temporal(settings)
    await client.service_client.check_health(
        timeout=timedelta(seconds=HEALTH_CHECK_TIMEOUT_SECONDS)
    )


async def api_answers(base_url: str) -> None:
    """The API answers GET /health/live."""
    import httpx

    async with httpx.AsyncClient(timeout=HEALTH_CHECK_TIMEOUT_SECONDS) as client:
        (await client.get(f"{base_url}/health/live")).raise_for_status()


async def gateway_answers(settings: Settings) -> None:
    """The gateway completes a TLS handshake: a frozen process still accepts TCP connections
    (the kernel does that), but only a running one shakes hands."""
    import ssl

    context = ssl.create_default_context(cafile=settings.gateway_ca)
    context.check_hostname = False  # whether it answers, not under which name
    context.set_alpn_protocols(["h2"])
    host, _, port = settings.gateway_listen.rpartition(":")
    _, writer = await asyncio.open_connection(host or "127.0.0.1", int(port), ssl=context)
    writer.close()
