"""The console's cookies and its CSRF tokens.

- `aos_session`: the sign-in session's token, the same session record as the API's bearer
  tokens (`db.accounts.AccountRepository`), so it ends, expires and is bound to the client's IP
  exactly like them. `HttpOnly`, `SameSite=Strict`, `Secure` per `Settings.console_cookies_secure`.
- `aos_presession`: a random value before sign-in, so the sign-in and registration forms carry a
  CSRF token too.
- `aos_pending`: between the password and the TOTP code, the two are sealed (AES-GCM, keyed from
  `AOS_SECRET_KEY`) for five minutes in a cookie only `/console/sign-in` receives, so the second
  step can make the same single `sign_in` call as the API without showing the password again.

A CSRF token is an HMAC of the session token (or of the pre-session value) keyed by
`AOS_SECRET_KEY`: a page of another site can neither read nor compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response

from settings import Settings

SESSION_COOKIE = "aos_session"
PRESESSION_COOKIE = "aos_presession"
PENDING_SIGN_IN_COOKIE = "aos_pending"
PENDING_SIGN_IN_PATH = "/console/sign-in"
PENDING_SIGN_IN_SECONDS = 300
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


@dataclass(frozen=True)
class PendingSignIn:
    """The first step's email and password, waiting for the TOTP code."""

    email: str
    password: str


def seal_pending_sign_in(settings: Settings, pending: PendingSignIn) -> str:
    nonce = os.urandom(12)
    plain = json.dumps(
        {"email": pending.email, "password": pending.password, "at": int(time.time())}
    ).encode()
    sealed = AESGCM(_key(settings, "console-pending-sign-in")).encrypt(nonce, plain, None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_pending_sign_in(settings: Settings, sealed: str | None) -> PendingSignIn | None:
    """The sealed first step, or None when absent, tampered with or older than five minutes."""
    if not sealed:
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        plain = AESGCM(_key(settings, "console-pending-sign-in")).decrypt(raw[:12], raw[12:], None)
        data = json.loads(plain)
    except (ValueError, InvalidTag):
        return None
    if time.time() - int(data["at"]) > PENDING_SIGN_IN_SECONDS:
        return None
    return PendingSignIn(email=str(data["email"]), password=str(data["password"]))
