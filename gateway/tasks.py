"""The gateway's own asyncio tasks, each one observed: none may fail without a log line.

A task whose exception nobody retrieves is reported by asyncio only when it is garbage
collected ("Task exception was never retrieved"), late, without context, and mixed into
whatever else the process logs. So every task the gateway starts either is awaited by its
starter or goes through `BackgroundTasks.spawn`, whose done-callback logs a failure at once
and names the task; and a call whose outcome may be left behind (`observe`) gets a callback
that retrieves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("gateway")


class BackgroundTasks:
    """Tasks that run beside the calls: held (the loop keeps only weak references), logged
    when they fail, cancelled together at `close`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so never "never retrieved"
        if error is not None:
            log.error("background task %s failed", task.get_name(), exc_info=error)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def observe(future: asyncio.Future[Any], what: str) -> None:
    """Retrieve the outcome of a future that its starter may no longer wait for (the station
    left, or the call was cut): its error is logged, quietly, because nobody needs it."""

    def ended(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            log.debug("%s ended with %r after its caller had left", what, error)

    future.add_done_callback(ended)
