"""The payload codec over HTTP, for the Temporal Web UI and CLI (`--codec-endpoint`).

Only signed-in administrators may use it: decoding shows VINs and personal data in clear.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payloads

from api.deps import AdminUser, SettingsDep
from api.problems import problem_responses
from domain.errors import Conflict, DomainError
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


class PayloadJson(BaseModel):
    """One Temporal payload in the protobuf JSON form: base64 data and metadata values."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class PayloadsJson(BaseModel):
    """The body of the remote codec protocol, both ways: `{"payloads": [...]}` and no more."""

    model_config = ConfigDict(extra="forbid")

    payloads: list[PayloadJson]


class InvalidPayloads(DomainError):
    code = "invalid-payloads"
    title = "The payloads are not Temporal payloads in JSON form"


def _payloads(body: PayloadsJson) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as error:  # e.g. data that is not base64
        raise InvalidPayloads(str(error), field="payloads") from None


CODEC_PROBLEMS = problem_responses(InvalidPayloads, NoPayloadKeys)


@router.post("/encode", response_model=PayloadsJson, responses=CODEC_PROBLEMS)
async def encode(body: PayloadsJson, admin: AdminUser, settings: SettingsDep) -> dict[str, Any]:
    """Encrypt payloads (Temporal remote codec protocol: `{"payloads": [...]}`)."""
    codec = _codec(settings)
    encoded = await codec.encode(_payloads(body).payloads)
    return {"payloads": json_format.MessageToDict(Payloads(payloads=encoded)).get("payloads", [])}


@router.post("/decode", response_model=PayloadsJson, responses=CODEC_PROBLEMS)
async def decode(body: PayloadsJson, admin: AdminUser, settings: SettingsDep) -> dict[str, Any]:
    """Decrypt payloads for display in the Web UI or the CLI."""
    codec = _codec(settings)
    try:
        decoded = await codec.decode(_payloads(body).payloads)
    except (KeyError, ValueError, InvalidTag, DecodeError) as error:
        # No key id, an unknown key, a forged or cut ciphertext, or no payload inside.
        raise InvalidPayloads(
            "a payload could not be decrypted with the portal's keys", field="payloads"
        ) from error
    return {"payloads": json_format.MessageToDict(Payloads(payloads=decoded)).get("payloads", [])}
