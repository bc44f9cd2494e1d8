"""`python -m bench`: run every `bench/bench_*.py` and end with one `name: value` line per figure.

Each module has `async def run() -> dict[str, float]`; figures are ratios measured in one run
against a baseline on the same machine, never absolute times compared with a threshold.

`python -m bench NAME ...` runs only the named figures or modules: a module that measures its
figures one by one lists them in `FIGURES` (name -> `async () -> float`), so
`python -m bench read_rate_under_writes` measures that figure alone; a module name
(`bench_programming`) runs the whole module.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path


async def main(wanted: list[str]) -> int:
    figures: dict[str, float] = {}
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_")
    )
    modules = {name: importlib.import_module(f"bench.{name}") for name in names}
    one_by_one = {name: getattr(module, "FIGURES", {}) for name, module in modules.items()}
    known = set(names).union(*one_by_one.values())
    if unknown := set(wanted) - known:
        print(f"no such figure or module: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for name, module in modules.items():
        if not wanted or name in wanted:
            print(f"# {name}", file=sys.stderr)
            figures.update(await module.run())
            continue
        for figure, measure in one_by_one[name].items():
            if figure in wanted:
                print(f"# {name}: {figure}", file=sys.stderr)
                figures[figure] = await measure()
    for key, value in figures.items():
        print(f"{key}: {value:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
