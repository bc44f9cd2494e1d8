"""The programming report: the proof of a flash, as one canonical JSON document.

What it holds (`build_report`): per ECU the identification read before and after, the
fingerprint written, the SHA-256 of every segment sent and the check-memory results (all from
the independent audit of the frame logs, `domain.protocol_audit`), each retry and its cause and
the step times (from the session's history), the phase times the station measured (prepare,
per segment erase, download and check, dependencies, reset, read-back; from the results of the
ECU's activities); per vehicle the VIN and the software before and after; who (person,
workshop, station), when, the ticket it ran on; the SHA-256 of every frame log; the audit's
verdict and every violation; the events in a hash chain.

How it is sealed: the report's canonical bytes (`canonical`: sorted keys, no insignificant
space, UTF-8, no floats) are signed with the portal's Ed25519 key (`security.report_keys`),
together with a manifest of one SHA-256 per field (`field_digests`), so that a verifier holding
only the public key names the field that was changed (`tampered_fields`), e.g.
`ecus[1].segments[0].sha256`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import Conflict
from domain.protocol_audit import Audit, EcuFindings, software_units

REPORT_FORMAT = "aos-programming-report/1"
SIGNATURE_ALGORITHM = "Ed25519"
GENESIS_HASH = "0" * 64  # the "previous hash" of the chain's first event


class ProgrammingSessionRunning(Conflict):
    """The report is signed once, after the session ended: not while it runs."""

    code = "programming-session-running"
    title = "The programming session has not ended"


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that is signed and hashed: keys sorted, no spaces,
    UTF-8; floats refused (their text is not the same in every language)."""
    _refuse_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("a report holds no floats: use integers (milliseconds, millivolts)")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_floats(item)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a JSON value (and every empty object or list) with its path:
    `ecus[1].segments[0].sha256`."""
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from leaves(value[key], f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def field_digests(report: dict[str, Any]) -> dict[str, str]:
    """The manifest: the SHA-256 of each field's canonical value, by its path."""
    return {path: sha256_hex(canonical(value)) for path, value in leaves(report)}


def signed_bytes(report: dict[str, Any], manifest: dict[str, str]) -> bytes:
    """What the signature covers: the report and its manifest, canonical."""
    return canonical({"format": REPORT_FORMAT, "manifest": manifest, "report": report})


def tampered_fields(document: dict[str, Any]) -> list[str]:
    """The fields whose value no longer matches the manifest (changed, added or removed), and
    the events whose hash chain is broken; empty for an intact document."""
    report, manifest = document.get("report"), document.get("manifest")
    if not isinstance(report, dict) or not isinstance(manifest, dict):
        return ["report" if not isinstance(report, dict) else "manifest"]
    try:
        now = field_digests(report)
    except ValueError:  # a float slipped in: name the fields that hold one
        return [p for p, v in leaves(report) if isinstance(v, float)]
    changed = [p for p in now if manifest.get(p) != now[p]]
    removed = [p for p in manifest if p not in now]
    return sorted(set(changed + removed + broken_chain(report.get("events"))))


def broken_chain(events: Any) -> list[str]:
    """The paths of the events whose `hash` is not the hash of the event with the previous
    event's hash in it."""
    if not isinstance(events, list):
        return ["events"]
    broken: list[str] = []
    previous: object = GENESIS_HASH
    for index, event in enumerate(events):
        if not isinstance(event, dict) or event.get("previous_hash") != previous:
            broken.append(f"events[{index}].previous_hash")
        elif event.get("hash") != event_hash(event):
            broken.append(f"events[{index}].hash")
        previous = event.get("hash") if isinstance(event, dict) else None
    return broken


def event_hash(event: dict[str, Any]) -> str:
    return sha256_hex(canonical({k: v for k, v in event.items() if k != "hash"}))


def hash_chain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events in order, each carrying the previous event's hash and its own."""
    chained, previous = [], GENESIS_HASH
    for index, event in enumerate(events):
        linked = {**event, "sequence": index, "previous_hash": previous}
        linked["hash"] = previous = event_hash(linked)
        chained.append(linked)
    return chained


def timestamp(moment: datetime | None) -> str | None:
    """UTC, to the microsecond, with a Z: one text per moment."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class Phase:
    """One phase of an ECU's programming as the station timed it: `prepare`, per segment
    (`segment`) `erase`, `download` and `check`, then `dependencies`, `reset`, `read-back`."""

    ecu: str
    phase: str
    segment: int | None
    started_at: datetime
    duration: timedelta


@dataclass(frozen=True)
class FailedAttempt:
    """The phases an ECU's failed attempt ran, the last one where it failed, as its failure
    carries them: only the last few (`left_out` before them), to keep the failure small."""

    phases: list[Phase] = field(default_factory=list)
    left_out: int = 0


@dataclass(frozen=True)
class Step:
    """One activity of the session, from its history: which step of which ECU, when, how
    many attempts, how it ended (a failed one: its last attempt's phases)."""

    step: str
    ecu: str | None
    segment: int | None
    scheduled_at: datetime
    ended_at: datetime | None
    attempts: int
    outcome: str  # completed, failed, timed-out, canceled, running
    failure: str | None = None
    failed_attempt: FailedAttempt = field(default_factory=FailedAttempt)


@dataclass(frozen=True)
class Retry:
    """A step tried again: the failure of the attempt before `attempt`, and that attempt's
    phases."""

    step: str
    ecu: str | None
    segment: int | None
    attempt: int  # the attempt that followed the failure
    at: datetime
    cause_type: str | None
    cause: str
    failed_attempt: FailedAttempt = field(default_factory=FailedAttempt)


@dataclass(frozen=True)
class FrameLogFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class EcuOutcome:
    ecu: str
    status: str
    bytes_total: int
    bytes_done: int
    software_after: list[str]


@dataclass(frozen=True)
class ReportFacts:
    """Everything a finished session leaves behind, gathered by the application layer."""

    session_id: str
    workflow_id: str
    state: str
    reason: str | None
    vin: str
    package_id: str
    workshop_id: str
    station_id: str
    technician_id: str
    technician_email: str | None
    started_at: datetime
    ended_at: datetime | None
    ticket: dict[str, Any] | None
    outcomes: list[EcuOutcome]
    steps: list[Step]
    retries: list[Retry]
    frame_logs: list[FrameLogFile]
    audit: Audit
    built_at: datetime
    # the package's SHA-256 of each segment, by ECU and address (empty: the package is gone)
    package_segments: dict[str, dict[int, str]] = field(default_factory=dict)
    # the phases of every ECU's completed attempts, each ECU's in the order they ran
    phases: list[Phase] = field(default_factory=list)


# --------------------------------------------------------------------------- the report


def build_report(facts: ReportFacts) -> dict[str, Any]:
    """The report as a JSON value (not yet sealed)."""
    audit = facts.audit
    names = [o.ecu for o in facts.outcomes]
    names += [n for n, f in audit.ecus.items() if n not in names and f.programmed]
    outcomes = {o.ecu: o for o in facts.outcomes}
    ecus = [_ecu(name, outcomes.get(name), audit.ecus.get(name), facts) for name in names]
    return {
        "session_id": facts.session_id,
        "workflow_id": facts.workflow_id,
        "state": facts.state,
        "reason": facts.reason,
        "package_id": facts.package_id,
        "who": {
            "technician_id": facts.technician_id,
            "technician_email": facts.technician_email,
            "workshop_id": facts.workshop_id,
            "station_id": facts.station_id,
        },
        "started_at": timestamp(facts.started_at),
        "ended_at": timestamp(facts.ended_at),
        "built_at": timestamp(facts.built_at),
        "ticket": facts.ticket,
        "vehicle": {
            "vin": facts.vin,
            "vins_read": _vins_read(audit),
            "software_before": {e["ecu"]: e["software_before"] for e in ecus},
            "software_after": {e["ecu"]: e["software_after"] for e in ecus},
        },
        "ecus": ecus,
        "frame_logs": [
            {"name": f.name, "bytes": f.size, "sha256": f.sha256} for f in facts.frame_logs
        ],
        "audit": {
            "verdict": audit.verdict,
            "frames": audit.frames,
            "violation_count": audit.violation_count,
            "violations": [
                {"ecu": v.ecu, "log": v.log, "micros": v.micros, "rule": v.rule, "seen": v.seen}
                for v in audit.violations
            ],
            "decode_problems": audit.decode_problems,
        },
        "events": hash_chain(_events(facts)),
    }


def _ecu(
    name: str, outcome: EcuOutcome | None, found: EcuFindings | None, facts: ReportFacts
) -> dict[str, Any]:
    found = found or EcuFindings(name)
    before = found.identification_before.get("F101")
    after = found.identification_after.get("F101")
    software_after = software_units(after) if after else (outcome.software_after if outcome else [])
    return {
        "ecu": name,
        "status": outcome.status if outcome else "not-in-session",
        "bytes_total": outcome.bytes_total if outcome else 0,
        "bytes_done": outcome.bytes_done if outcome else 0,
        "identification_before": found.identification_before,
        "identification_after": found.identification_after,
        "software_before": software_units(before) if before else [],
        "software_after": software_after,
        "fingerprints": found.fingerprints,
        "segments": [
            _segment(segment.summary(), facts.package_segments.get(name, {}).get(segment.address))
            for segment in found.segments
        ],
        "check_memory": found.check_memory,
        "retries": [
            {
                "step": r.step,
                "segment": r.segment,
                "attempt": r.attempt,
                "at": timestamp(r.at),
                "cause_type": r.cause_type,
                "cause": r.cause,
                **_failed_attempt_fields(r.failed_attempt),
            }
            for r in facts.retries
            if r.ecu == name
        ],
        "steps": [_step(s) for s in facts.steps if s.ecu == name],
        "phases": [_phase(p) for p in facts.phases if p.ecu == name],
    }


def _vins_read(audit: Audit) -> list[str]:
    """The VINs the car's ECUs answered (DID F190) in the frame logs: one, the session's."""
    found = set()
    for ecu in audit.ecus.values():
        for phase in (ecu.identification_before, ecu.identification_after):
            if "F190" in phase:
                found.add(bytes.fromhex(phase["F190"]).decode("ascii", "replace"))
    return sorted(found)


def _segment(sent: dict[str, Any], in_package: str | None) -> dict[str, Any]:
    """A segment as the audit found it, beside the package's SHA-256 of the segment at its
    address: whether the car got exactly the package's bytes."""
    matches = None if in_package is None else in_package == sent["sha256"]
    return {**sent, "package_sha256": in_package, "matches_package": matches}


def _step(step: Step) -> dict[str, Any]:
    millis = None
    if step.ended_at is not None:
        millis = (step.ended_at - step.scheduled_at) // _MILLISECOND
    return {
        "step": step.step,
        "segment": step.segment,
        "scheduled_at": timestamp(step.scheduled_at),
        "ended_at": timestamp(step.ended_at),
        "millis": millis,
        "attempts": step.attempts,
        "outcome": step.outcome,
        "failure": step.failure,
        **_failed_attempt_fields(step.failed_attempt),
    }


def _failed_attempt_fields(attempt: FailedAttempt) -> dict[str, Any]:
    """The phases of a failed attempt (none: a step that did not fail, or failed before the
    station timed anything) and how many earlier ones its failure left out."""
    return {
        "failed_attempt_phases": [_phase(p) for p in attempt.phases],
        "failed_attempt_phases_left_out": attempt.left_out,
    }


def _phase(phase: Phase) -> dict[str, Any]:
    return {
        "phase": phase.phase,
        "segment": phase.segment,
        "started_at": timestamp(phase.started_at),
        "millis": phase.duration // _MILLISECOND,
    }


_MILLISECOND = datetime(2000, 1, 1, 0, 0, 0, 1000) - datetime(2000, 1, 1)


def _events(facts: ReportFacts) -> list[dict[str, Any]]:
    """The session's story in order: started, each step's end (with its retries), each frame
    log, the audit, the end."""
    events: list[dict[str, Any]] = [
        {
            "at": timestamp(facts.started_at),
            "event": "session-started",
            "detail": f"by {facts.technician_id} at station {facts.station_id}",
        }
    ]
    timed: list[tuple[datetime, dict[str, Any]]] = []
    for retry in facts.retries:
        detail = f"attempt {retry.attempt} after {retry.cause_type or 'failure'}: {retry.cause}"
        timed.append((retry.at, _event(retry.at, "step-retried", retry.ecu, retry.step, detail)))
    for step in facts.steps:
        at = step.ended_at or step.scheduled_at
        detail = step.failure or (f"segment {step.segment}" if step.segment is not None else "")
        timed.append((at, _event(at, f"step-{step.outcome}", step.ecu, step.step, detail)))
    events += [event for _, event in sorted(timed, key=lambda pair: pair[0])]
    ended = timestamp(facts.ended_at)
    for log in facts.frame_logs:
        events.append({"at": ended, "event": "frame-log", "detail": f"{log.name} {log.sha256}"})
    verdict = f"{facts.audit.verdict}, {facts.audit.violation_count} violation(s)"
    events.append({"at": ended, "event": "protocol-audit", "detail": verdict})
    events.append({"at": ended, "event": f"session-{facts.state}", "detail": facts.reason or ""})
    return events


def _event(at: datetime, event: str, ecu: str | None, step: str, detail: str) -> dict[str, Any]:
    return {"at": timestamp(at), "event": event, "ecu": ecu, "step": step, "detail": detail}
