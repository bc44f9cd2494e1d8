"""Log lines name the flow and the activity and carry no VIN, email or token; /metrics counts."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import httpx
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from observability import JsonFormatter

VIN = "WBA8E5105FK731548"


@activity.defn
async def _talk_to_the_car(vin: str) -> None:
    logging.getLogger("hw.station_link").warning(
        "connected to %s for jan@garage.example (Authorization: Bearer s3cr3t.t0ken)", vin
    )


async def test_a_log_line_inside_an_activity_names_the_flow_and_masks_personal_data() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hw.station_link")
    logger.addHandler(handler)
    try:
        environment = ActivityEnvironment()
        environment.info = dataclasses.replace(
            environment.info, activity_type="program_segment", workflow_id="programming-42"
        )
        await environment.run(_talk_to_the_car, VIN)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert (line["activity"], line["workflow_id"]) == ("program_segment", "programming-42")
    assert line["level"] == "warning"
    assert VIN not in line["message"] and "WBA**********1548" in line["message"]
    assert "jan@" not in line["message"] and "s3cr3t" not in line["message"]


def test_a_workflow_log_record_carries_workflow_and_run_ids() -> None:
    record = logging.LogRecord("workflows", logging.INFO, __file__, 1, "state %s", ("x",), None)
    record.temporal_workflow = {
        "workflow_id": "programming-1",
        "run_id": "r1",
        "workflow_type": "P",
    }
    line = json.loads(JsonFormatter().format(record))
    assert (line["workflow_id"], line["run_id"], line["workflow_type"]) == (
        "programming-1",
        "r1",
        "P",
    )


async def test_metrics_count_requests_by_route(api_client: httpx.AsyncClient) -> None:
    await api_client.get("/health/live")
    await api_client.get("/no/such/page")
    metrics = (await api_client.get("/metrics")).text
    assert 'aos_http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in metrics
    assert 'route="unmatched",status="404"' in metrics
