"""What a request says about its caller, beyond its credentials: its address, and the cookie
the payload codec accepts. The rules on who may see what are `application.authorization`."""

from __future__ import annotations

from fastapi import Request

# The console sets it beside its own session cookie, with the same session token, on the codec's
# path only (console.security): the Temporal Web UI sends it to the payload codec with
# "Include cross-origin credentials". No other route reads a cookie.
CODEC_SESSION_COOKIE = "aos_codec_session"


def client_ip(request: Request) -> str:
    """The caller's address as the trusted-proxy rule (`web.edge`) left it."""
    return request.client.host if request.client else "unknown"
