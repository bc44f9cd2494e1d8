"""Benchmarks: ratios measured in one run (`python -m bench`).

The benchmarks are an entry point that wires in the simulator, as `worker.py dev` and the tests
do: `sim://` vehicle URLs reach simulated cars in this process.
"""

from hw.sim import station as _simulated

_simulated.install()
