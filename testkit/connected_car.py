"""Messages of a connected car as the backend sends them to the portal: JSON, signed by the
Standard Webhooks scheme (domain.signed_messages). Shared by the tests, the bench and the
simulated backend."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from domain.signed_messages import sign

INBOUND_PATH = "/teleservices/messages"


def teleservice_call(
    vin: str, due: list[str], *, mileage_km: int = 196_000, ok: list[str] | None = None
) -> dict[str, Any]:
    """A Teleservice Call whose `due` CBS items are due (the others in `ok` are not)."""
    cbs = [{"cbs_id": item, "status": "due"} for item in due]
    cbs += [{"cbs_id": item, "status": "ok"} for item in ok or []]
    return {
        "kind": "teleservice_call",
        "vin": vin,
        "sent_at": datetime.now(UTC).isoformat(),
        "mileage_km": mileage_km,
        "cbs": cbs,
        "check_control": [],
    }


def signed(
    secret: str,
    payload: dict[str, Any] | bytes,
    *,
    message_id: str | None = None,
    at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and the headers of one signed message."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = sign(secret, message_id or f"msg_{uuid.uuid4().hex}", at or datetime.now(UTC), body)
    return body, {**headers, "Content-Type": "application/json"}
