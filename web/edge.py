"""The app's edge, whatever serves it: who the client is, and the production HSTS header.

A client's address is what the sign-in throttle counts failures by and what a session is bound
to (`web.auth.client_ip`). Behind a reverse proxy the peer is the proxy, and the client's own
address comes in `X-Forwarded-For`; but anybody can send that header. So it is believed only
from the peers in `AOS_TRUSTED_PROXIES` (empty by default): from any other peer it is ignored
and the peer's own address is the client's. `X-Forwarded-Proto` is taken on the same terms;
`Forwarded` (RFC 7239) and `X-Forwarded-Host` never are.

The product starts uvicorn with `--no-proxy-headers`: uvicorn's own rewrite, on by default,
believes these headers from 127.0.0.1 and would hand this app a client address it cannot check.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from settings import Settings


def install_trusted_proxies(app: FastAPI, settings: Settings) -> None:
    """Take the client's address and scheme from the forwarded headers of trusted proxies only.

    Call it after every other middleware is added: the last one added runs first, and every
    other one (metrics, the console) must see the client this decides.
    """
    if not settings.trusted_proxies:
        return  # no proxy is trusted: the peer is the client
    # uvicorn's middleware walks X-Forwarded-For from the right and takes the first address
    # that is not a trusted proxy, so a value the client put in front is never used.
    app.add_middleware(
        ProxyHeadersMiddleware,
        trusted_hosts=[str(network) for network in settings.trusted_proxies],
    )


# A year; no `includeSubDomains`: the portal does not speak for the other hosts of its domain.
STRICT_TRANSPORT_SECURITY = b"max-age=31536000"


class StrictTransportSecurity:
    """Adds `Strict-Transport-Security` to every response (pure ASGI, so streams pass as they
    are).

    Sent whatever the scheme the app sees: behind a TLS-terminating proxy that is plain HTTP
    unless the proxy is trusted and forwards the scheme, and a browser ignores the header on a
    response that did not come over HTTPS (RFC 6797, 8.1).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"strict-transport-security", STRICT_TRANSPORT_SECURITY))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


def install_transport_security(app: FastAPI, settings: Settings) -> None:
    """In production (served over HTTPS only), tell browsers never to use plain HTTP here."""
    if settings.environment == "production":
        app.add_middleware(StrictTransportSecurity)
