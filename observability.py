"""Logs and metrics of every process.

Logs are JSON lines with the workflow id, run id and activity of the code that wrote them, so
one flow's lines can be found across processes. VINs, email addresses and bearer tokens are
masked before a line is written: no log line carries a whole VIN or a person's address.
Metrics: the Temporal SDK runtime serves Prometheus metrics of each worker process, and the API
serves its request metrics at /metrics.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

VIN = re.compile(r"\b([A-HJ-NPR-Z0-9]{3})[A-HJ-NPR-Z0-9]{10}([A-HJ-NPR-Z0-9]{4})\b")
EMAIL = re.compile(r"\b[\w.+-]+@([\w-]+\.)+[\w-]+\b")
BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+")


def mask(text: str) -> str:
    """Keep enough to tell things apart (WMI and serial of a VIN), nothing that identifies."""
    text = VIN.sub(lambda m: f"{m.group(1)}**********{m.group(2)}", text)
    text = EMAIL.sub("<email>", text)
    return BEARER.sub(r"\1<token>", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        line.update(_flow_context(record))
        if record.exc_info:
            line["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def _flow_context(record: logging.LogRecord) -> dict[str, Any]:
    workflow = getattr(record, "temporal_workflow", None)
    if isinstance(workflow, dict):
        return {
            "workflow_id": workflow.get("workflow_id"),
            "run_id": workflow.get("run_id"),
            "workflow_type": workflow.get("workflow_type"),
        }
    details = getattr(record, "temporal_activity", None)
    if not isinstance(details, dict) and activity.in_activity():
        info = activity.info()
        details = {
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
        }
    if isinstance(details, dict):
        return {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("workflow_run_id"),
            "activity": details.get("activity_type"),
            "attempt": details.get("attempt"),
        }
    return {}


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for this process (workers and the API)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # udsoncan logs every negative response at ERROR; the link turns them into typed errors.
    logging.getLogger("UdsClient").setLevel(logging.CRITICAL)


def metrics_runtime(address: str | None) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics at `address` (host:port)."""
    if not address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
