"""Who the client is, decided once at the app's edge, however the app is served.

A client's address is what the sign-in throttle counts failures by and what a session is bound
to (`api.auth.client_ip`). Behind a reverse proxy the peer is the proxy, and the client's own
address comes in `X-Forwarded-For`; but anybody can send that header. So it is believed only
from the peers in `AOS_TRUSTED_PROXIES` (empty by default): from any other peer it is ignored
and the peer's own address is the client's. `X-Forwarded-Proto` is taken on the same terms;
`Forwarded` (RFC 7239) and `X-Forwarded-Host` never are.

The product starts uvicorn with `--no-proxy-headers`: uvicorn's own rewrite, on by default,
believes these headers from 127.0.0.1 and would hand this app a client address it cannot check.
"""

from __future__ import annotations

from fastapi import FastAPI
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
