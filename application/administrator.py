"""The portal's administrator from a command: created by `worker.py create-admin`, and in the
embedded mode (`make dev`) created, enrolled and written down at the first start."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from db.accounts import AccountRepository
from db.engine import create_engine, create_session_factory
from security.credentials import totp_provisioning_uri
from settings import Settings


async def ensure_administrator(settings: Settings, email: str, password: str) -> bool:
    """Create the administrator unless an account with this email exists. True when created."""
    engine = create_engine(settings.database_url)
    try:
        return await AccountRepository(create_session_factory(engine)).ensure_administrator(
            email, password, "Portal administrator"
        )
    finally:
        await engine.dispose()


def embedded_administrator(settings: Settings) -> str:
    """The embedded mode's administrator, and the banner line that says how to sign in.

    Its generated password and its TOTP secret (enrolled here, so nobody has to catch it the
    one time the API would show it) are kept in AOS_DATA_DIR/admin-credentials.txt, readable
    by its owner only: email, password, TOTP secret, otpauth:// link, one per line.
    """
    credentials = settings.data_dir / "admin-credentials.txt"
    if not credentials.exists():
        password = settings.admin_password or secrets.token_urlsafe(12)
        asyncio.run(ensure_administrator(settings, settings.admin_email, password))
        _write_owner_only(credentials, f"{settings.admin_email}\n{password}\n")
    credentials.chmod(0o600)
    email, password, *totp = credentials.read_text().splitlines()
    if not totp:  # just created, or a file from before the secret was kept here
        secret = asyncio.run(_enrol_totp(settings, email))
        if secret is None:
            return (
                f"Administrator:   {email} / {password}, TOTP enrolled at an earlier first "
                "sign-in: the code comes from that authenticator app"
            )
        uri = totp_provisioning_uri(secret, email)
        _write_owner_only(credentials, f"{email}\n{password}\n{secret}\n{uri}\n")
    return (
        f"Administrator:   {email} / {password}; TOTP secret and otpauth:// link in {credentials} "
        "(owner-only): add it to an authenticator app, then POST /auth/login with totp_code"
    )


def _write_owner_only(path: Path, text: str) -> None:
    """Write `path` so that it is never readable by anyone but its owner, not even briefly."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


async def _enrol_totp(settings: Settings, email: str) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        return await AccountRepository(create_session_factory(engine)).enrol_totp_unconfirmed(email)
    finally:
        await engine.dispose()
