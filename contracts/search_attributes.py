"""Search attributes operators query by (the API's `GET /flows`, `temporal workflow list
--query`, the Web UI).

The dev server registers them at start (`worker.py dev`); production registers them with
`temporal operator search-attribute create` (docker-compose.yml).

Search attributes are stored and indexed in clear by Temporal (no payload codec applies to
them), so they hold only what the visibility store may see: ids of the portal's own records,
business states, and never a VIN. `Vin` holds the VIN's keyed search value
(`vin_search_value`), which the API computes for a search by VIN; the VIN itself is in the
flow's memo (`VIN_MEMO`), a payload that the payload codec encrypts.
"""

import hashlib
import hmac

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

VIN = SearchAttributeKey.for_keyword("Vin")
WORKSHOP_ID = SearchAttributeKey.for_keyword("WorkshopId")
STATION_ID = SearchAttributeKey.for_keyword("StationId")
FLOW_STATE = SearchAttributeKey.for_keyword("FlowState")

ALL = (VIN, WORKSHOP_ID, STATION_ID, FLOW_STATE)

VIN_MEMO = "vin"
# 128 bits of the HMAC: collisions among a fleet's VINs are out of reach, and the value stays
# short enough to type into a `temporal workflow list --query`.
VIN_SEARCH_HEX_DIGITS = 32


def vin_search_value(vin: str, key: bytes) -> str:
    """The `Vin` search attribute's value for `vin`: HMAC-SHA256 under the portal's key
    (derived from AOS_SECRET_KEY), truncated, in hex. Without the key, neither the VIN nor
    whether two values of different portals are the same car can be learnt from it.

    Workflows never compute it (they hold no key): the API passes it in a flow's input, or a
    portal activity returns it with the VIN it read.
    """
    digest = hmac.new(key, vin.strip().upper().encode(), hashlib.sha256).hexdigest()
    return digest[:VIN_SEARCH_HEX_DIGITS]


def workshop_scope(workshop_id: str, station_id: str | None = None) -> TypedSearchAttributes:
    """What a flow carries from its start: its workshop (the one scoping rule: a workshop sees
    its own flows, operators find them by workshop) and, where it has one, its station."""
    pairs: list[SearchAttributePair[str]] = [SearchAttributePair(WORKSHOP_ID, workshop_id)]
    if station_id is not None:
        pairs.append(SearchAttributePair(STATION_ID, station_id))
    return TypedSearchAttributes(pairs)
