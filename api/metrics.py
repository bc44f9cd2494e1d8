"""Request metrics of the API in Prometheus format at /metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Response
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

    # A plain ASGI middleware: `@app.middleware("http")` (Starlette's BaseHTTPMiddleware) runs
    # every request in a task group with a stream between the two halves, which cost more than
    # the measuring (bench `api_start_ratio`).
    def measure(inner: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500  # unless the app answers: an exception escaping it becomes a 500

            async def send_recording_status(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await inner(scope, receive, send_recording_status)
            finally:
                # The router puts the matched route into this same scope.
                route = getattr(scope.get("route"), "path", "unmatched")
                requests.labels(scope["method"], route, str(status)).inc()
                latency.labels(scope["method"], route).observe(time.perf_counter() - started)

        return middleware

    app.add_middleware(measure)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
