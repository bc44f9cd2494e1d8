"""The signed programming report printed (reportlab): every section of the JSON report, and the
key id and signature that seal it. English, times in UTC as the report holds them; the proof
is the JSON document (`aos report verify`), this is its readable copy."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

LINE = 4.2 * mm
MARGIN = 16 * mm
WRAP = 110  # characters per line in the small font


class Style(StrEnum):
    """How a line is printed: its font, its size and the room it takes."""

    HEADING = "heading"
    TEXT = "text"
    TABLE = "table"  # a row of a table: fixed-width, so its columns line up


HEADING, TEXT, TABLE = Style.HEADING, Style.TEXT, Style.TABLE
FONTS = {HEADING: ("Helvetica-Bold", 10), TEXT: ("Helvetica", 8), TABLE: ("Courier", 8)}


def report_pdf(document: bytes) -> bytes:
    """The PDF of a signed report's bytes (as `programming_report` returns them)."""
    signed = json.loads(document)
    out = io.BytesIO()
    # Uncompressed: the key id, the signature and every digest stay searchable in the file.
    canvas = Canvas(out, pagesize=A4, invariant=True, pageCompression=0)
    canvas.setTitle(f"Programming report {signed['report'].get('session_id', '')}")
    _, height = A4
    y = height - MARGIN
    for text, style in _lines(signed):
        for part in _wrapped(text):
            if y < MARGIN:
                canvas.showPage()
                y = height - MARGIN
            canvas.setFont(*FONTS[style])
            canvas.drawString(MARGIN, y, part)
            y -= LINE * (1.3 if style == HEADING else 1)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def _wrapped(text: str) -> Iterator[str]:
    while len(text) > WRAP:
        yield text[:WRAP]
        text = "    " + text[WRAP:]
    yield text


def _lines(signed: dict[str, Any]) -> Iterator[tuple[str, Style]]:
    report, signature = signed["report"], signed["signature"]
    who, vehicle, audit = report["who"], report["vehicle"], report["audit"]
    yield f"Programming report — session {report['session_id']}", HEADING
    yield f"State: {report['state']}  {report.get('reason') or ''}", TEXT
    yield f"Package: {report['package_id']}", TEXT
    yield f"Started: {report['started_at']}   Ended: {report['ended_at']}", TEXT
    yield (
        f"Technician: {who['technician_email'] or who['technician_id']}   Workshop: "
        f"{who['workshop_id']}   Station: {who['station_id']}",
        TEXT,
    )
    ticket = report.get("ticket") or {}
    yield (
        f"Covered: {ticket.get('service')} {ticket.get('starts_at')} to {ticket.get('ends_at')}",
        TEXT,
    )
    for bought in ticket.get("tickets", []):
        yield (
            f"Ticket {bought['id']} ({bought['period']}): {bought['starts_at']} to "
            f"{bought['ends_at']}",
            TEXT,
        )
    yield f"Vehicle {vehicle['vin']}", HEADING
    for ecu in report["ecus"]:
        before = ", ".join(vehicle["software_before"].get(ecu["ecu"], [])) or "—"
        after = ", ".join(vehicle["software_after"].get(ecu["ecu"], [])) or "—"
        yield f"{ecu['ecu']}: before {before}; after {after}", TEXT
    yield (
        f"Protocol audit: {audit['verdict']} ({audit['violation_count']} violations, "
        f"{audit['frames']} frames)",
        HEADING,
    )
    for violation in audit["violations"]:
        yield (
            f"{violation['ecu']} {violation['log']} at {violation['micros']} µs: "
            f"{violation['rule']} — {violation['seen']}",
            TEXT,
        )
    for ecu in report["ecus"]:
        yield f"ECU {ecu['ecu']} — {ecu['status']}", HEADING
        for phase in ("identification_before", "identification_after"):
            for did, value in sorted(ecu[phase].items()):
                yield f"{phase.replace('_', ' ')} {did}: {value}", TEXT
        for fingerprint in ecu["fingerprints"]:
            yield f"fingerprint {fingerprint['did']}: {fingerprint['data']}", TEXT
        for index, segment in enumerate(ecu["segments"]):
            yield (
                f"segment {index} at {segment['address']}: {segment['bytes_accepted']} bytes "
                f"accepted in {segment['blocks']} blocks, matches the package: "
                f"{segment.get('matches_package')}",
                TEXT,
            )
            yield f"    SHA-256 {segment['sha256']}", TEXT
        for check in ecu["check_memory"]:
            yield f"check memory {check['address']}+{check['length']}: {check['result']}", TEXT
        for retry in ecu["retries"]:
            yield f"retry {retry['step']} attempt {retry['attempt']}: {retry['cause']}", TEXT
            yield from _failed_attempt_table(retry)
        for step in ecu["steps"]:
            yield f"{step['step']} {step['outcome']} in {step['millis']} ms", TEXT
            yield from _failed_attempt_table(step)
        yield from _phase_table(ecu.get("phases", []))
    yield "Frame logs", HEADING
    for log in report["frame_logs"]:
        yield f"{log['name']} ({log['bytes']} bytes): SHA-256 {log['sha256']}", TEXT
    yield "Events (hash chain)", HEADING
    for event in report["events"]:
        yield f"{event['sequence']} {event['at']} {event['event']} {event['hash'][:16]}…", TEXT
    yield "Signature", HEADING
    yield f"{signature['algorithm']}, key {signature['key_id']}", TEXT
    yield signature["value"], TEXT


def _failed_attempt_table(failed: dict[str, Any]) -> Iterator[tuple[str, Style]]:
    """The phases of the attempt a retry or a failed step followed (reports built before
    failures carried them have none)."""
    phases = failed.get("failed_attempt_phases", [])
    if phases:
        left_out = failed.get("failed_attempt_phases_left_out", 0)
        yield f"    the failed attempt's phases ({left_out} before these left out):", TEXT
        yield from _phase_table(phases)


def _phase_table(phases: list[dict[str, Any]]) -> Iterator[tuple[str, Style]]:
    """The phases the station timed, one row each (reports built before they were recorded
    have none: no table)."""
    if not phases:
        return
    yield f"{'phase':<14}{'segment':>7}  {'started at (UTC)':<29}{'ms':>9}", TABLE
    for phase in phases:
        segment = "-" if phase["segment"] is None else str(phase["segment"])
        yield (
            f"{phase['phase']:<14}{segment:>7}  {phase['started_at']:<29}{phase['millis']:>9}",
            TABLE,
        )
