"""Request bodies that a station or an administrator uploads: read in chunks, bounded as they
come, never held whole; and their bounds, from the settings, in the OpenAPI.

A body that says in `Content-Length` that it is larger than its bound is refused before a byte
of it is read; one sent without (chunked) or understating it is refused at the chunk that
passes the bound, and the rest is not read.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request

from domain.errors import DomainError
from settings import Settings

# A request body's key naming, for each bound an extension declares, the Settings field that
# holds it; the app replaces it with the values (`declare_upload_bounds`).
BOUNDS_FROM_SETTINGS = "x-bounds-from-settings"


async def bounded_chunks(
    request: Request, max_bytes: int, too_large: Callable[[], DomainError]
) -> AsyncIterator[bytes]:
    """The request's body chunk by chunk; raises `too_large()` instead of passing `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        yield chunk


def upload_body(
    media_type: str, description: str, bounds: dict[str, str], binary: bool = True
) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself: the body's media type, and its
    bounds as `x-` extensions (`{"x-max-bytes": "package_max_upload_bytes"}`: extension name
    to Settings field). `description` may name the fields in braces; the app fills in the
    values."""
    schema: dict[str, Any] = {"type": "string"}
    if binary:
        schema["format"] = "binary"
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media_type: {"schema": schema}},
            BOUNDS_FROM_SETTINGS: bounds,
        }
    }


def declare_upload_bounds(app: FastAPI, settings: Settings) -> None:
    """Make the app's OpenAPI state each upload's bounds as this app enforces them.

    The routes are shared by every app (a test builds many, with their own settings), so the
    values go into each app's copy of the schema, not into the routes. They are extensions and
    words, not `maxLength`: a bound of hundreds of MiB as `maxLength` would have schemathesis
    generate bodies that large."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = copy.deepcopy(plain_openapi())
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    body = operation.get("requestBody", {})
                    fields = body.pop(BOUNDS_FROM_SETTINGS, None)
                    if fields is None:
                        continue
                    values = {name: getattr(settings, name) for name in fields.values()}
                    for extension, name in fields.items():
                        body[extension] = values[name]
                    body["description"] = body.get("description", "").format_map(values)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
