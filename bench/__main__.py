"""`python -m bench`: run every `bench/bench_*.py` and end with one `name: value` line per figure.

Each module has `async def run() -> dict[str, float]`; figures are ratios measured in one run
against a baseline on the same machine, never absolute times compared with a threshold.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path


async def main() -> int:
    figures: dict[str, float] = {}
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_")
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"# {name}", file=sys.stderr)
        figures.update(await module.run())
    for key, value in figures.items():
        print(f"{key}: {value:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
