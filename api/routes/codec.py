"""The payload codec over HTTP, for the Temporal Web UI and CLI (`--codec-endpoint`).

Only signed-in administrators may use it: decoding shows VINs and personal data in clear. API
clients send their bearer token; the Web UI, a page of another origin, cannot, so it sends the
console's session cookie ("Include cross-origin credentials"), let in by CORS for the UI's
origin only (`web.cors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Header, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from domain.errors import Conflict, DomainError
from temporal_client import payload_codec
from web.cors import CODEC_PREFIX, CrossOriginRefused, check_preflight, preflight_headers
from web.deps import AdminByTokenOrCookie, SettingsDep
from web.problems import problem_responses

router = APIRouter(prefix=CODEC_PREFIX, tags=["operators"])


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


def _payloads_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    return {"payloads": json_format.MessageToDict(Payloads(payloads=payloads)).get("payloads", [])}


CODEC_PROBLEMS = problem_responses(InvalidPayloads, NoPayloadKeys)


@router.post("/encode", response_model=PayloadsJson, responses=CODEC_PROBLEMS)
async def encode(
    body: PayloadsJson, admin: AdminByTokenOrCookie, settings: SettingsDep
) -> dict[str, Any]:
    """Encrypt payloads (Temporal remote codec protocol: `{"payloads": [...]}`)."""
    codec = _codec(settings)
    return _payloads_json(await codec.encode(_payloads(body).payloads))


@router.post("/decode", response_model=PayloadsJson, responses=CODEC_PROBLEMS)
async def decode(
    body: PayloadsJson, admin: AdminByTokenOrCookie, settings: SettingsDep
) -> dict[str, Any]:
    """Decrypt payloads for display in the Web UI or the CLI."""
    codec = _codec(settings)
    try:
        decoded = await codec.decode(_payloads(body).payloads)
    except (KeyError, ValueError, InvalidTag, DecodeError) as error:
        # No key id, an unknown key, a forged or cut ciphertext, or no payload inside.
        raise InvalidPayloads(
            "a payload could not be decrypted with the portal's keys", field="payloads"
        ) from error
    return _payloads_json(decoded)


PREFLIGHT_DESCRIPTION = (
    "The browser's CORS preflight before the Temporal Web UI calls the codec (`OPTIONS` with "
    "`Origin` and `Access-Control-Request-*`): 204 with `Access-Control-Allow-Origin` (that "
    "origin) and `Access-Control-Allow-Credentials: true` for the UI's origin "
    "(`AOS_TEMPORAL_UI_ORIGIN`), 403 `cross-origin-refused` for any other. Without `Origin` "
    "it is a plain `OPTIONS`: 204 with `Allow`."
)


# One preflight, the same answer, for both codec paths.
PREFLIGHT_ROUTE: dict[str, Any] = {
    "status_code": 204,
    "response_class": Response,
    "responses": problem_responses(CrossOriginRefused),
    "description": PREFLIGHT_DESCRIPTION,
}


@router.options("/encode", **PREFLIGHT_ROUTE)
@router.options("/decode", **PREFLIGHT_ROUTE)
async def preflight(
    settings: SettingsDep,
    origin: Annotated[str | None, Header(max_length=2000)] = None,
    access_control_request_method: Annotated[str | None, Header(max_length=100)] = None,
    access_control_request_headers: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """May the Temporal Web UI's page call the codec (CORS preflight)?"""
    if origin is None:
        return Response(status_code=204, headers={"Allow": "OPTIONS, POST"})
    check_preflight(
        settings.temporal_ui_origins,
        origin,
        access_control_request_method,
        access_control_request_headers,
    )
    return Response(status_code=204, headers=preflight_headers())
