"""Request metrics of the API in Prometheus format at /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


def install_metrics(app: FastAPI) -> None:
    """Count requests and time them by method, route template (not raw path) and status."""
    registry = CollectorRegistry()  # one per app: tests build many apps in one process
    requests = Counter(
        "aos_http_requests",
        "HTTP requests answered",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "aos_http_request_seconds", "Time to answer", ["method", "route"], registry=registry
    )

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
