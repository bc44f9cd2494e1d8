"""The Standard Webhooks scheme as the portal implements it (domain.signed_messages), checked
against the test vector of the scheme's reference libraries, and the embedded mode's secret."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.signed_messages import (
    MessageSignatureInvalid,
    MessageStale,
    MessageUnsigned,
    SignedHeaders,
    new_secret,
    sign,
    signature,
    verify,
)
from domain.teleservices import add_working_days
from security.kept_secrets import TELESERVICE_WEBHOOK_SECRET_FILE
from settings import Settings

# The reference libraries' test vector (standard-webhooks, libraries/*/tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(values: dict[str, str]) -> SignedHeaders:
    return SignedHeaders(
        values.get("webhook-id"), values.get("webhook-timestamp"), values.get("webhook-signature")
    )


def test_the_signature_is_the_reference_libraries_for_their_test_vector() -> None:
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    headers = SignedHeaders(VECTOR_ID, str(VECTOR_TIMESTAMP), VECTOR_SIGNATURE)
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, at) == VECTOR_ID
    # One of several signatures (a secret being rotated) is enough.
    rotated = SignedHeaders(VECTOR_ID, str(VECTOR_TIMESTAMP), f"v1,bm90IGl0 {VECTOR_SIGNATURE}")
    assert verify(VECTOR_SECRET, rotated, VECTOR_BODY, at) == VECTOR_ID


@pytest.mark.parametrize(
    "tamper",
    ["body", "id", "timestamp", "secret", "version"],
)
def test_any_change_to_what_was_signed_is_refused(tamper: str) -> None:
    now = datetime.now(UTC)
    secret, body = new_secret(), b'{"kind": "battery_guard"}'
    values = sign(secret, "msg_1", now, body)
    if tamper == "body":
        body += b" "
    if tamper == "id":
        values["webhook-id"] = "msg_2"
    if tamper == "timestamp":
        values["webhook-timestamp"] = str(int(now.timestamp()) - 1)
    if tamper == "secret":
        secret = new_secret()
    if tamper == "version":
        values["webhook-signature"] = values["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(MessageSignatureInvalid):
        verify(secret, _headers(values), body, now)


def test_unsigned_and_stale_messages_are_refused_as_such() -> None:
    now = datetime.now(UTC)
    secret, body = new_secret(), b"{}"
    values = sign(secret, "msg_1", now - timedelta(minutes=5, seconds=1), body)
    with pytest.raises(MessageStale):
        verify(secret, _headers(values), body, now)
    values = sign(secret, "msg_1", now - timedelta(minutes=4, seconds=59), body)
    assert verify(secret, _headers(values), body, now) == "msg_1"
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {key: value for key, value in values.items() if key != missing}
        with pytest.raises(MessageUnsigned):
            verify(secret, _headers(partial), body, now)


def test_the_embedded_mode_generates_the_secret_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / TELESERVICE_WEBHOOK_SECRET_FILE
    assert (
        Settings(data_dir=tmp_path / "data").with_portal_secrets().teleservice_webhook_secret
        is None
    )
    assert not path.exists()  # a process that receives no message makes none
    secret = Settings(data_dir=tmp_path / "data").teleservice_secret()  # make dev, or a message
    assert secret.startswith("whsec_")
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Every later process of the portal reads the same one.
    later = Settings(data_dir=tmp_path / "data").with_portal_secrets()
    assert later.teleservice_webhook_secret == later.teleservice_secret() == secret
    with pytest.raises(ValueError, match="whsec_"):
        Settings(teleservice_webhook_secret="not a secret")


def test_working_days_skip_the_weekend_and_the_calendars_holidays() -> None:
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert add_working_days(friday, 2) == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # Tuesday
    saturday = friday + timedelta(days=1)
    assert add_working_days(saturday, 2) == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    monday = friday + timedelta(days=3)
    assert add_working_days(monday, 4) == datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    christmas = frozenset({date(2026, 12, 25)})
    thursday = datetime(2026, 12, 24, 9, 0, tzinfo=UTC)
    assert add_working_days(thursday, 1, christmas) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)
