"""The `Vin` search attribute as workflows write it: the VIN's keyed search value, never the VIN
(contracts.search_attributes).

A workflow holds no key, so it writes the value it is given: by the API in its input, or by the
portal activity that read the VIN. Flows recorded before held the clear VIN in `Vin`; on replay
their input or activity result has no search value and they write the clear VIN again where
they did, so their histories replay unchanged (tests/test_replay.py).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes

# Marks the flows that write no clear VIN even when started without a search value (a starter
# other than the API); the flows recorded before it wrote the clear one.
KEYED_VIN_SEARCH = "keyed-vin-search"


def vin_attributes(search_value: str | None, vin: str) -> list[SearchAttributeUpdate[str]]:
    """The `Vin` update to write: the search value given, else none, or on the replay of a
    flow recorded before keyed VIN searches the clear VIN it wrote then."""
    if search_value is not None:
        return [search_attributes.VIN.value_set(search_value)]
    if workflow.patched(KEYED_VIN_SEARCH):
        return []
    return [search_attributes.VIN.value_set(vin)]
