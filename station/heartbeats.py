"""How the station's programming activities heartbeat: how often a download reports its last
confirmed block, and a heartbeat that goes on while no block moves (an erase)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator

from temporalio import activity

# How often a download reports its last confirmed block (the first one at once). Well inside
# the station worker's heartbeat throttle (1 s), so the server's copy is at most about a second
# behind, and far less often than blocks move: a heartbeat per block costs a hop to the
# worker's event loop each, which slowed ECUs with small blocks (KOMBI: 512-byte blocks).
HEARTBEAT_EVERY = 0.25


@contextlib.contextmanager
def heartbeat_while_running(
    details: Callable[[], list[object]], every: float = 1.0
) -> Iterator[None]:
    """Heartbeat `details()` (the last confirmed progress) every second, also while no block
    moves.

    An erase can take far longer than the heartbeat timeout (the ECU answers
    ResponsePending meanwhile); without this the activity would be declared dead mid-erase.
    """
    stop = threading.Event()
    context = contextvars.copy_context()  # activity.heartbeat needs the activity's context

    def pump() -> None:
        while not stop.wait(every):
            # Also with nothing confirmed yet: an erase must not look like a dead worker.
            activity.heartbeat(*details())

    thread = threading.Thread(target=context.run, args=(pump,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
