"""Sealing and checking a programming report: the manifest names a changed field, the hash
chain a changed event, the signature a changed manifest; the key ring's format and rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.programming_report import canonical, hash_chain
from domain.report_verification import PublicKey, public_keys_from_json, verify_report
from security.report_keys import new_key_entry, parse_key_ring, public_keys, rotated, sign_report

REPORT = {
    "ecus": [{"ecu": "DME", "segments": [{"sha256": "ab" * 32}]}, {"ecu": "EGS", "segments": []}],
    "events": hash_chain([{"event": "session-started"}, {"event": "session-completed"}]),
    "vehicle": {"vin": "WBA5R1C50LFH00001"},
}


def keys_and_document() -> tuple[list[PublicKey], dict[str, object]]:
    ring = parse_key_ring(new_key_entry())
    document = json.loads(sign_report(REPORT, ring[0]))
    return public_keys(ring), document


def test_an_intact_report_verifies_with_the_public_key_alone() -> None:
    keys, document = keys_and_document()
    outcome = verify_report(json.dumps(document).encode(), keys)
    assert (outcome.valid, outcome.tampered, outcome.problems) == (True, [], [])


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda r: r["ecus"][0]["segments"][0].update(sha256="ac" * 32),
            "ecus[0].segments[0].sha256",
        ),
        (lambda r: r["vehicle"].update(vin="WBA5R1C50LFH00002"), "vehicle.vin"),
        (lambda r: r["ecus"][1].update(extra=1), "ecus[1].extra"),
        (lambda r: r["events"][0].update(event="x"), "events[0].event"),
    ],
)
def test_a_changed_field_is_named(change: object, named: str) -> None:
    keys, document = keys_and_document()
    change(document["report"])  # type: ignore[operator]
    outcome = verify_report(json.dumps(document).encode(), keys)
    assert not outcome.valid
    assert named in outcome.tampered


def test_a_changed_manifest_or_an_unknown_key_is_refused() -> None:
    keys, document = keys_and_document()
    manifest = document["manifest"]
    assert isinstance(manifest, dict)
    manifest["vehicle.vin"] = "0" * 64
    outcome = verify_report(json.dumps(document).encode(), keys)
    assert not outcome.valid and "vehicle.vin" in outcome.tampered
    _, other = keys_and_document()
    outcome = verify_report(json.dumps(other).encode(), keys)
    assert not outcome.valid and "not among the public keys" in outcome.problems[0]


def test_rotation_keeps_the_old_key_listed_and_its_reports_valid() -> None:
    first = new_key_entry(datetime(2026, 1, 1, tzinfo=UTC))
    old_key = parse_key_ring(first)[0]
    document = sign_report(REPORT, old_key)
    ring = parse_key_ring(rotated(first, datetime(2026, 6, 1, tzinfo=UTC)))
    listed = public_keys(ring)
    assert [k.key_id for k in listed][1] == old_key.key_id
    assert (listed[0].valid_until, listed[1].valid_until) == (None, "2026-06-01T00:00:00Z")
    published = json.dumps({"keys": [k.as_json() for k in listed]}).encode()
    assert verify_report(document, public_keys_from_json(published)).valid


def test_the_key_ring_is_refused_when_malformed_and_floats_are_kept_out() -> None:
    with pytest.raises(ValueError, match="report key 1"):
        parse_key_ring("k@2026-01-01T00:00:00Z=c2hvcnQ=")
    entry = new_key_entry()
    with pytest.raises(ValueError, match="1 to 64 of"):
        parse_key_ring("x" * 65 + entry[entry.index("@") :])
    with pytest.raises(ValueError, match="must differ"):
        parse_key_ring(f"{entry},{entry}")
    with pytest.raises(ValueError, match="1 to 64 keys"):
        parse_key_ring(",".join(new_key_entry() for _ in range(65)))
    with pytest.raises(ValueError, match="no floats"):
        canonical({"volts": 12.5})
