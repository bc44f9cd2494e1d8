"""One way to connect to Temporal, shared by the API, the workers and the tests.

Payloads (workflow and activity inputs, results, heartbeats, memos) are pydantic models as JSON.
A failure's message and stack trace travel inside it as a payload too (the failure converter's
encoded attributes), so they are encrypted with the rest: Temporal would otherwise store them
in clear, and a refusal's message can name a car or a person. When `AOS_PAYLOAD_KEYS` is set
(the embedded mode generates one) payloads are encrypted with AES-GCM before they leave the
process; the key id travels in each payload's metadata, so keys can rotate: new payloads use
the first key, old ones still decode. Search attributes are no payloads and stay clear for
Temporal to index: contracts/search_attributes.py says what they may hold (no VIN).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import threading
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
)
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from settings import Settings

ENCRYPTED = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload (metadata included)."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"no key {active_key_id!r}")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        encoded = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = self._keys[self._active].encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCRYPTED, KEY_ID: self._active.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCRYPTED:
                decoded.append(payload)
                continue
            key_id = payload.metadata[KEY_ID].decode()
            if key_id not in self._keys:
                raise ValueError(f"payload encrypted with unknown key {key_id!r}")
            clear = self._keys[key_id].decrypt(payload.data[:12], payload.data[12:], None)
            decoded.append(Payload.FromString(clear))
        return decoded


def parse_payload_keys(text: str) -> tuple[dict[str, bytes], str]:
    """`id=base64key,id2=base64key`: the first is used for new payloads."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key_id, _, value = part.partition("=")
        key = base64.b64decode(value)
        if len(key) != 32:
            raise ValueError(f"payload key {key_id!r} must be 32 bytes (base64)")
        keys[key_id] = key
    if not keys:
        raise ValueError("AOS_PAYLOAD_KEYS holds no key")
    return keys, next(iter(keys))


def payload_codec(settings: Settings | None) -> EncryptionCodec | None:
    if settings is None or not settings.payload_keys:
        return None
    keys, active = parse_payload_keys(settings.payload_keys)
    return EncryptionCodec(keys, active)


# The Temporal server keeps an activity's last failure for the next attempt only up to 4 KB;
# a larger one it replaces with "Failure exceeds size limit.", and the retry's cause is lost to
# the operators' timeline and the signed programming report. A failure is kept under this
# (before encryption, which adds ~50 bytes a payload).
FAILURE_BUDGET = 3 * 1024
STACK_TRACE_KEPT = 600  # the end of a trace: the innermost frames, where the error was raised
CAUSE_MESSAGE_KEPT = 300
MESSAGE_KEPT = 1000


class BoundedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failures as the SDK writes them (message and stack trace as an encoded attribute), cut
    to `FAILURE_BUDGET` when a chain of causes or long traces would go past it.

    A failure within the budget is left as it is. A larger one loses, step by step until it
    fits: the start of every stack trace; the causes below the first (which says how many were
    left out) and the end of the first cause's message; that cause's trace; the end of its own
    message. The error's type, its details and the first cause's type always stay."""

    _depth = threading.local()  # to_failure recurses into the causes; bound once, at the top

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        try:
            super().to_failure(exception, payload_converter, failure)
        finally:
            self._depth.value = depth
        if depth == 0 and failure.ByteSize() > FAILURE_BUDGET:
            _bound(failure, payload_converter)


def _bound(failure: Failure, converter: PayloadConverter) -> None:
    chain = [failure]
    while chain[-1].HasField("cause"):
        chain.append(chain[-1].cause)
    for level in chain:
        _cut(level, converter, stack_trace=STACK_TRACE_KEPT)
    if failure.ByteSize() > FAILURE_BUDGET and len(chain) > 1:
        note = ""
        if len(chain) > 2:
            chain[1].ClearField("cause")
            note = f" ({len(chain) - 2} deeper causes left out)"
        _cut(chain[1], converter, message=CAUSE_MESSAGE_KEPT, note=note)
    if failure.ByteSize() > FAILURE_BUDGET and len(chain) > 1:
        _cut(chain[1], converter, stack_trace=0)
    if failure.ByteSize() > FAILURE_BUDGET:
        _cut(failure, converter, message=MESSAGE_KEPT)


def _cut(
    failure: Failure,
    converter: PayloadConverter,
    *,
    stack_trace: int | None = None,
    message: int | None = None,
    note: str = "",
) -> None:
    """Keep the last `stack_trace` characters of the failure's trace and the first `message`
    of its message, then add `note`; in the encoded attribute when it has one."""
    encoded = failure.HasField("encoded_attributes")
    if encoded:
        attributes = converter.from_payloads([failure.encoded_attributes])[0]
        text, trace = str(attributes.get("message", "")), str(attributes.get("stack_trace", ""))
    else:
        text, trace = failure.message, failure.stack_trace
    if stack_trace is not None and len(trace) > stack_trace:
        trace = trace[len(trace) - stack_trace :] if stack_trace else ""
    if message is not None and len(text) > message:
        text = text[:message] + "…"
    text += note
    if encoded:
        failure.encoded_attributes.CopyFrom(
            converter.to_payloads([{"message": text, "stack_trace": trace}])[0]
        )
    else:
        failure.message, failure.stack_trace = text, trace


# Every process converts with it, station workers included: what a station's failure says
# reaches the gateway as an encoded attribute, which the gateway encrypts like any payload.
CLEAR_CONVERTER = dataclasses.replace(
    pydantic_data_converter,
    failure_converter_class=BoundedFailureConverter,
)


def data_converter(settings: Settings | None = None) -> DataConverter:
    """Pydantic models in and out, failure messages as payloads; encrypted when payload keys
    are configured."""
    codec = payload_codec(settings)
    if codec is None:
        return CLEAR_CONVERTER
    return dataclasses.replace(CLEAR_CONVERTER, payload_codec=codec)


async def connect_temporal(
    settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    """Connect to the configured Temporal server.

    `lazy=True` lets the API start while Temporal is down; readiness then reports it.
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        lazy=lazy,
        runtime=runtime,
    )


async def connect_through_gateway(
    settings: Settings,
    station_token: str,
    *,
    address: str | None = None,
    ca_certificate: bytes | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """A station worker's only connection: the station gateway, over TLS, with its own token.

    No payload codec: the gateway decodes what it hands to the station and encodes what comes
    back (failure messages included), so the payload keys never leave the portal.
    """
    return await Client.connect(
        address or settings.gateway_address,
        namespace=settings.temporal_namespace,
        api_key=station_token,
        tls=TLSConfig(
            server_root_ca_cert=ca_certificate or settings.gateway_ca.read_bytes(),
            domain=settings.gateway_server_name or None,
        ),
        data_converter=CLEAR_CONVERTER,
        runtime=runtime,
    )
