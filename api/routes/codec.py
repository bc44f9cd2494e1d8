"""The payload codec over HTTP, for the Temporal Web UI and CLI (`--codec-endpoint`).

Only signed-in administrators may use it: decoding shows VINs and personal data in clear.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import AdminUser, SettingsDep
from domain.errors import Conflict
from temporal_client import payload_codec

router = APIRouter(prefix="/codec", tags=["operators"])


class NoPayloadKeys(Conflict):
    code = "payload-encryption-off"
    title = "Payload encryption is not configured"


def _codec(settings: SettingsDep) -> Any:
    codec = payload_codec(settings)
    if codec is None:
        raise NoPayloadKeys("set AOS_PAYLOAD_KEYS to encrypt workflow payloads")
    return codec


@router.post("/encode")
async def encode(body: dict[str, Any], admin: AdminUser, settings: SettingsDep) -> dict[str, Any]:
    """Encrypt payloads (Temporal remote codec protocol: `{"payloads": [...]}`)."""
    payloads = json_format.ParseDict(body, Payloads())
    encoded = await _codec(settings).encode(payloads.payloads)
    return json_format.MessageToDict(Payloads(payloads=encoded))


@router.post("/decode")
async def decode(body: dict[str, Any], admin: AdminUser, settings: SettingsDep) -> dict[str, Any]:
    """Decrypt payloads for display in the Web UI or the CLI."""
    payloads = json_format.ParseDict(body, Payloads())
    decoded = await _codec(settings).decode(payloads.payloads)
    return json_format.MessageToDict(Payloads(payloads=decoded))
