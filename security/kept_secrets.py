"""The secrets the embedded mode generates and keeps under AOS_DATA_DIR, owner-only (like the
administrator's credentials in admin-credentials.txt): the secret key, the payload keys, the
webhook secrets, the report signing keys."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

# administrator's credentials in admin-credentials.txt).
SECRET_KEY_FILE = "secret-key"
PAYLOAD_KEYS_FILE = "payload-keys"
TELESERVICE_WEBHOOK_SECRET_FILE = "teleservice-webhook-secret"
PAYMENT_PROVIDER_SECRET_FILE = "payment-provider-secret"
REPORT_SIGNING_KEYS_FILE = "report-signing-keys"


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def new_payload_keys() -> str:
    """One key in AOS_PAYLOAD_KEYS's format; its id is unique, so a payload encrypted by
    another installation fails with "unknown key" rather than a failed decryption."""
    key = base64.b64encode(os.urandom(32)).decode()
    return f"embedded-{secrets.token_hex(4)}={key}"


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`; made with `make()` and written there, owner-only, when there
    is none yet.

    Processes may start at the same moment: each writes its candidate to a file of its own and
    links it into place, which only the first one manages (a link never replaces a file), and
    all of them then read the file that is there.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(make() + "\n")
            # Another process may have been first: then its secret is the one.
            with contextlib.suppress(FileExistsError):
                os.link(candidate, path)
        finally:
            candidate.unlink()
    return read_kept_secret(path)


def read_kept_secret(path: Path) -> str:
    path.chmod(0o600)  # as for the administrator's credentials: whatever it was, owner-only now
    value = path.read_text().strip()
    if not value:
        raise ValueError(f"{path} is empty; delete it to have a new secret generated")
    return value
