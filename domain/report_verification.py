"""Checking a signed programming report with the portal's public keys alone (what
`aos report verify` does offline): every field against the manifest, the events' hash chain,
the Ed25519 signature against the key it names. Deterministic, no secret: it lives in the
domain so the terminal client, which imports only `contracts` and `domain`, can use it."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.programming_report import SIGNATURE_ALGORITHM, signed_bytes, tampered_fields


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    public_key: str  # base64 of the 32 raw bytes
    valid_from: str
    valid_until: str | None  # None: the key that signs now

    def as_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "algorithm": SIGNATURE_ALGORITHM,
            "public_key": self.public_key,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }


@dataclass(frozen=True)
class Verification:
    valid: bool
    key_id: str | None
    tampered: list[str]  # the fields that were changed
    problems: list[str]  # why it is refused, for people


def verify_report(data: bytes, keys: list[PublicKey]) -> Verification:
    """Check a signed report with the public keys alone: every field against the manifest,
    the events' hash chain, the signature against the key it names."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        return Verification(False, None, [], [f"not a JSON document: {error}"])
    if not isinstance(document, dict):
        return Verification(False, None, [], ["not a signed report"])
    signature = document.get("signature")
    if not isinstance(signature, dict):
        return Verification(False, None, ["signature"], ["no signature"])
    key_id = signature.get("key_id")
    tampered = tampered_fields(document)
    problems = [f"{path} was changed" for path in tampered]
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        problems.append(f"signed with key {key_id!r}, which is not among the public keys given")
    elif signature.get("algorithm") != SIGNATURE_ALGORITHM:
        problems.append(f"signature algorithm {signature.get('algorithm')!r}, not Ed25519")
    elif not tampered and not _signature_holds(document, key):
        # every field matches the manifest: then the manifest or the signature was changed
        tampered = ["manifest"]
        problems.append("the signature does not match the report and its manifest")
    return Verification(
        not problems, key_id if isinstance(key_id, str) else None, tampered, problems
    )


def _signature_holds(document: dict[str, Any], key: PublicKey) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key))
        value = base64.b64decode(document["signature"]["value"], validate=True)
        public.verify(value, signed_bytes(document["report"], document["manifest"]))
    except (InvalidSignature, ValueError, binascii.Error, TypeError, KeyError):
        return False
    return True


def public_keys_from_json(data: bytes) -> list[PublicKey]:
    """The keys as `GET /programming-report-keys` lists them (`{"keys": [...]}`, or the list)."""
    listed = json.loads(data)
    entries = listed.get("keys", []) if isinstance(listed, dict) else listed
    return [
        PublicKey(e["key_id"], e["public_key"], e.get("valid_from", ""), e.get("valid_until"))
        for e in entries
        if isinstance(e, dict) and e.get("algorithm", SIGNATURE_ALGORITHM) == SIGNATURE_ALGORITHM
    ]
