"""Search attributes operators query by (`temporal workflow list --query "Vin='…'"`, Web UI, /flows).

The dev server registers them at start (`worker.py dev`); production registers them with
`temporal operator search-attribute create` (docker-compose.yml).
"""

from temporalio.common import SearchAttributeKey

VIN = SearchAttributeKey.for_keyword("Vin")
WORKSHOP_ID = SearchAttributeKey.for_keyword("WorkshopId")
STATION_ID = SearchAttributeKey.for_keyword("StationId")
FLOW_STATE = SearchAttributeKey.for_keyword("FlowState")

ALL = (VIN, WORKSHOP_ID, STATION_ID, FLOW_STATE)
