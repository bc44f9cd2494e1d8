"""The console's cookies and its CSRF tokens.

- `aos_session`: the sign-in session's token, the same session record as the API's bearer
  tokens (`db.accounts.AccountRepository`), so it ends, expires and is bound to the client's IP
  exactly like them. `HttpOnly`, `SameSite=Strict`, `Secure` per `Settings.console_cookies_secure`.
- `aos_codec_session`: the same session token, on the payload codec's path (`/codec`) only,
  with the same flags: the Temporal Web UI, a page of another origin, sends it to the codec
  with "Include cross-origin credentials" (`web.cors`). A cookie of its own rather than
  `aos_session` on `/`: no other path of this host (the UI's server on another port included,
  cookies ignore ports) ever receives a session token.
- `aos_presession`: a random value before sign-in, so the sign-in and registration forms carry a
  CSRF token too.
- `aos_pending`: between the password and the TOTP code, the random token of the pending
  sign-in the server keeps (`db.accounts.AccountRepository.start_sign_in`: the account, the
  client's address, five minutes, one session), in a cookie only `/console/sign-in` receives.
  The password never leaves the server.

A CSRF token is an HMAC of the session token (or of the pre-session value) keyed by
`AOS_SECRET_KEY`: a page of another site can neither read nor compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from domain.accounts import PENDING_SIGN_IN_LIFETIME
from settings import Settings
from web.auth import CODEC_SESSION_COOKIE
from web.cors import CODEC_PREFIX

SESSION_COOKIE = "aos_session"
PRESESSION_COOKIE = "aos_presession"
PENDING_SIGN_IN_COOKIE = "aos_pending"
PENDING_SIGN_IN_PATH = "/console/sign-in"
PENDING_SIGN_IN_SECONDS = int(PENDING_SIGN_IN_LIFETIME.total_seconds())
CSRF_FIELD = "csrf_token"


def _key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(settings.secret().encode(), purpose.encode(), hashlib.sha256).digest()


def set_cookie(
    response: Response,
    settings: Settings,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    path: str = "/console",
) -> None:
    """Every console cookie: invisible to scripts, never sent by another site's request."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=settings.console_cookies_secure,
    )


def clear_cookie(response: Response, settings: Settings, name: str, path: str = "/console") -> None:
    response.delete_cookie(
        name, path=path, httponly=True, samesite="strict", secure=settings.console_cookies_secure
    )


def set_session_cookies(response: Response, settings: Settings, token: str) -> None:
    """The signed-in session: for the console's pages, and for the payload codec."""
    set_cookie(response, settings, SESSION_COOKIE, token)
    set_cookie(response, settings, CODEC_SESSION_COOKIE, token, path=CODEC_PREFIX)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    clear_cookie(response, settings, SESSION_COOKIE)
    clear_cookie(response, settings, CODEC_SESSION_COOKIE, path=CODEC_PREFIX)


def csrf_binding(request: Request) -> str | None:
    """What this browser's CSRF token is derived from: its session, else its pre-session value."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE)


def csrf_token(settings: Settings, binding: str) -> str:
    digest = hmac.new(_key(settings, "console-csrf"), binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_valid(settings: Settings, binding: str | None, submitted: str | None) -> bool:
    if not binding or not submitted:
        return False
    return hmac.compare_digest(csrf_token(settings, binding), submitted)


def new_presession_value() -> str:
    return secrets.token_urlsafe(32)
