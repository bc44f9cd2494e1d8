"""The portal's Ed25519 keys for programming reports: parse, make, rotate, sign, verify.

A key ring is text, one key per line (or comma-separated in AOS_REPORT_SIGNING_KEYS), newest
first: `<key id>@<valid from, ISO 8601 UTC>=<base64 of the 32-byte private key>`. The first
key signs; the others stay listed, so that a report signed before a rotation still verifies. A
key is valid from its time until the next newer key's.

Verification needs the public keys only (`domain.report_verification`, as
`GET /programming-report-keys` publishes them), so `aos report verify` runs offline.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.programming_report import SIGNATURE_ALGORITHM, field_digests, signed_bytes
from domain.report_verification import PublicKey

MAX_KEYS = 64  # listed at once; a ring past it is refused rather than silently cut
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # stored beside each report (64 characters)


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    valid_from: str
    private: Ed25519PrivateKey

    def public_base64(self) -> str:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()


def parse_key_ring(text: str) -> list[SigningKey]:
    """The keys of a ring, newest first; a malformed entry is refused, naming it (not its
    secret)."""
    entries = [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]
    if not entries or len(entries) > MAX_KEYS:
        raise ValueError(f"a report key ring holds 1 to {MAX_KEYS} keys")
    keys = []
    for number, entry in enumerate(entries, 1):
        head, _, secret = entry.partition("=")
        key_id, _, valid_from = head.partition("@")
        try:
            datetime.fromisoformat(valid_from.replace("Z", "+00:00"))
            raw = base64.b64decode(secret, validate=True)
            private = Ed25519PrivateKey.from_private_bytes(raw)
        except (ValueError, binascii.Error) as error:
            raise ValueError(
                f"report key {number} ({key_id or 'no id'}): expected "
                "'<id>@<valid from>=<base64 of 32 bytes>'"
            ) from error
        if not KEY_ID.fullmatch(key_id):
            raise ValueError(f"report key {number}: its id must be 1 to 64 of A-Z a-z 0-9 . _ -")
        keys.append(SigningKey(key_id, valid_from, private))
    if len({key.key_id for key in keys}) != len(keys):
        raise ValueError("report key ids must differ")
    return keys


def new_key_entry(now: datetime | None = None) -> str:
    """One new key in the ring's format, valid from `now`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = secrets.token_bytes(32)
    return f"report-{secrets.token_hex(4)}@{moment}={base64.b64encode(raw).decode()}"


def rotated(ring: str, now: datetime | None = None) -> str:
    """The ring with a new signing key first; the old keys stay, to verify what they signed."""
    return "\n".join([new_key_entry(now), *ring.replace(",", "\n").split()]).strip()


def public_keys(keys: list[SigningKey]) -> list[PublicKey]:
    """The ring's public keys, newest first, each valid until the next newer one's start."""
    listed, until = [], None
    for key in keys:
        listed.append(PublicKey(key.key_id, key.public_base64(), key.valid_from, until))
        until = key.valid_from
    return listed


def sign_report(report: dict[str, Any], key: SigningKey) -> bytes:
    """The signed document's bytes: report, manifest, signature (its key id and value)."""
    manifest = field_digests(report)
    signature = key.private.sign(signed_bytes(report, manifest))
    document = {
        "manifest": manifest,
        "report": report,
        "signature": {
            "algorithm": SIGNATURE_ALGORITHM,
            "key_id": key.key_id,
            "value": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False).encode() + b"\n"
