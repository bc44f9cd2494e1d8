"""Cross-origin calls to the payload codec, and to nothing else.

The Temporal Web UI is served from another origin (the dev server's http://127.0.0.1:8233, or
the production UI's host) and decodes payloads by calling `/codec/decode` from the operator's
browser. Its codec setting "Include cross-origin credentials" sends cookies
(`credentials: include`): the console's codec session cookie (`web.auth.CODEC_SESSION_COOKIE`,
set at every console sign-in). Such a call is let in only from `Settings.temporal_ui_origins`,
with `Access-Control-Allow-Credentials`; every other route of the API stays same-origin, as
no other page needs it.

The preflight (`OPTIONS`) is a route of the codec router, so it is in the OpenAPI and its
refusal is a problem document; `CodecCors` adds the answer headers to every `/codec/` response
whose `Origin` is allowed, its problems included, so the UI can read why a call failed.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import Forbidden

CODEC_PREFIX = "/codec"
ALLOWED_METHOD = "POST"
# What the UI's codec client sends: a JSON body and the namespace; API clients a bearer token.
ALLOWED_HEADERS = ("authorization", "content-type", "x-namespace")
PREFLIGHT_MAX_AGE_SECONDS = 600


class CrossOriginRefused(Forbidden):
    code = "cross-origin-refused"
    title = "This cross-origin call is not allowed"


def check_preflight(
    origins: Collection[str], origin: str, method: str | None, request_headers: str | None
) -> None:
    """Refuse a preflight for another origin, another method or headers the codec does not
    read (`CrossOriginRefused`, naming which)."""
    if origin not in origins:
        raise CrossOriginRefused(
            f"pages of {origin} may not call the payload codec; set AOS_TEMPORAL_UI_ORIGIN to "
            "the Temporal Web UI's origin",
            field="origin",
        )
    if method != ALLOWED_METHOD:
        raise CrossOriginRefused(
            f"the payload codec takes {ALLOWED_METHOD} only", field="access-control-request-method"
        )
    asked = {name.strip().lower() for name in (request_headers or "").split(",") if name.strip()}
    extra = sorted(asked - set(ALLOWED_HEADERS))
    if extra:
        raise CrossOriginRefused(
            f"the payload codec reads no header {', '.join(extra)}",
            field="access-control-request-headers",
        )


def preflight_headers() -> dict[str, str]:
    """What an accepted preflight answers, beside `CodecCors`'s origin headers."""
    return {
        "Access-Control-Allow-Methods": ALLOWED_METHOD,
        "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }


class CodecCors:
    """ASGI middleware: the CORS answer headers on `/codec/` responses to an allowed origin.

    The exact origin is echoed (never `*`, which a browser refuses with credentials), and
    every `/codec/` answer varies by `Origin`, so a cache never hands one origin's answer to
    another.
    """

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CODEC_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        allowed = origin is not None and origin in self.origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                if allowed:
                    assert origin is not None
                    headers["Access-Control-Allow-Origin"] = origin
                    headers["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_with_cors)
