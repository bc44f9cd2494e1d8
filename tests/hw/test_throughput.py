"""Throughput guards (the full measurement is ``python -m hw.bench``).

Rates come from the median TransferData exchange over interleaved runs, which is robust
against load spikes from other processes on a shared 2-core box; the bounds are still
loose (they catch an artificial sleep or an extra round trip per block, not a few
percent). The trace hot path is also checked directly on its cost per frame.
Goals: link/plain >= 1.0, traced/untraced >= 0.9.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

import can

from hw.bench import Rate, Run, link_doip, link_sim, plain_udsoncan, rates
from hw.trace import FrameTrace, read_trace

SIZE = 160 * 1024


def _measure(variants: dict[str, Callable[[], Run]], rounds: int = 2) -> dict[str, Rate]:
    runs: dict[str, list[Run]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            runs[name].append(run())
    result = rates(runs, SIZE)
    print({name: round(rate.median_block) for name, rate in result.items()})
    return result


def test_station_link_keeps_up_with_a_plain_udsoncan_loop() -> None:
    data = os.urandom(SIZE)
    r = _measure({"plain": lambda: plain_udsoncan(data), "link": lambda: link_sim(data)})
    assert r["link"].median_block >= 0.75 * r["plain"].median_block


def test_traced_flash_throughput(tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    names = (tmp_path / f"t{i}.blf" for i in itertools.count())
    r = _measure(
        {
            "can": lambda: link_sim(data),
            "can+trace": lambda: link_sim(data, next(names)),
            "doip": lambda: link_doip(data),
            "doip+trace": lambda: link_doip(data, next(names)),
        }
    )
    assert r["can+trace"].median_block >= 0.7 * r["can"].median_block
    assert r["doip+trace"].median_block >= 0.7 * r["doip"].median_block


def test_trace_hot_path_costs_microseconds(tmp_path: Path) -> None:
    frame = can.Message(arbitration_id=0x612, data=bytes(64), is_fd=True, timestamp=1.0)
    payload = bytes(4096)
    n, m = 10_000, 300
    # no flush while timing: what a frame costs the link, not the writer's backlog
    with FrameTrace(tmp_path / "hot.blf", batch_bytes=1 << 30, flush_interval=3600) as trace:
        best_can = best_diag = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                trace.log_can(frame, is_rx=True)
            best_can = min(best_can, (time.perf_counter() - start) / n)
            start = time.perf_counter()
            for _ in range(m):
                trace.log_diagnostic(0x0E00, 0x0012, payload, is_rx=False)
            best_diag = min(best_diag, (time.perf_counter() - start) / m)
    print(f"log_can {best_can * 1e6:.2f} us, log_diagnostic(4 KiB) {best_diag * 1e6:.2f} us")
    assert best_can < 15e-6 and best_diag < 50e-6
    assert len(read_trace(tmp_path / "hot.blf")) == 3 * n + 3 * m * 64
