"""Signed messages between systems by the Standard Webhooks scheme (standardwebhooks.com,
spec v1): the connected-car backend's messages to the portal and the portal's to it.

The `standardwebhooks` package is not in the lock, so the scheme is implemented here, as the
spec writes it:

- the secret is `whsec_` followed by the base64 of the key (24 to 64 bytes);
- the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the body byte for byte;
- `webhook-signature` is a space-separated list of `v1,<base64 of HMAC-SHA256(key, content)>`
  (several while a secret is rotated); any one that matches is enough;
- `webhook-timestamp` is integer seconds since the epoch; a message more than the tolerance
  (5 minutes) before or after the receiver's clock is refused, which bounds how long the
  receiver must remember a `webhook-id` to refuse a replay.

Pure: the receiver passes its clock in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import Unauthenticated

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
TIMESTAMP_TOLERANCE = timedelta(minutes=5)
MAX_MESSAGE_ID_LENGTH = 100


class MessageUnsigned(Unauthenticated):
    code = "message-unsigned"
    title = "The message carries no Standard Webhooks signature"


class MessageSignatureInvalid(Unauthenticated):
    code = "message-signature-invalid"
    title = "The message's signature does not match"


class MessageStale(Unauthenticated):
    code = "message-stale"
    title = "The message's timestamp is outside the tolerance"


@dataclass(frozen=True)
class SignedHeaders:
    """The three headers of a signed message, as received (any may be missing)."""

    message_id: str | None
    timestamp: str | None
    signature: str | None


def new_secret() -> str:
    """A fresh secret in the scheme's format (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("a Standard Webhooks secret is whsec_ and base64") from error
    if len(key) < 24:
        raise ValueError("a Standard Webhooks secret holds at least 24 bytes")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one message: `v1,<base64>`."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def sign(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The headers a sender adds to `body`."""
    timestamp = int(at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: SignedHeaders,
    body: bytes,
    now: datetime,
    tolerance: timedelta = TIMESTAMP_TOLERANCE,
) -> str:
    """The message's id when `body` is signed with `secret` within `tolerance` of `now`;
    otherwise the refusal (unsigned, stale or a wrong signature)."""
    if not headers.message_id or not headers.timestamp or not headers.signature:
        raise MessageUnsigned(
            "send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)"
        )
    if len(headers.message_id) > MAX_MESSAGE_ID_LENGTH:
        raise MessageSignatureInvalid(
            f"webhook-id has at most {MAX_MESSAGE_ID_LENGTH} characters", field="webhook-id"
        )
    if not headers.timestamp.isdigit():
        raise MessageStale("webhook-timestamp is integer seconds since the epoch")
    timestamp = int(headers.timestamp)
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise MessageStale(
            f"webhook-timestamp is more than {int(tolerance.total_seconds())} s from the "
            "portal's clock; send the message again, signed now",
            tolerance_seconds=int(tolerance.total_seconds()),
        )
    expected = signature(secret, headers.message_id, timestamp, body).encode()
    offered = [part.encode() for part in headers.signature.split(" ") if part]
    # Every offered signature is compared in constant time, so the answer does not tell which
    # prefix of which one matched.
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise MessageSignatureInvalid(
            "no v1 signature matches the message with the portal's secret"
        )
    return headers.message_id
