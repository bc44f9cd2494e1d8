"""The phase times in the programming report: the domain builder puts the station's phases per
ECU into the signed document (in milliseconds, so no floats), the session's history gives the
phases of all of an ECU's completed `program_ecu` activities in order (one stopped for time,
the next resumed), and the PDF prints them as a table per ECU."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from application.programming_report_pdf import report_pdf
from application.programming_reports import _History
from contracts.programming import (
    FAILED_ATTEMPT_PHASES_KEPT,
    EcuPhase,
    EcuResult,
    ProgramEcuInput,
)
from domain.programming_report import (
    EcuOutcome,
    FailedAttempt,
    Phase,
    ReportFacts,
    build_report,
    canonical,
    field_digests,
)
from domain.protocol_audit import Audit
from security.report_keys import new_key_entry, parse_key_ring, sign_report
from temporal_client import data_converter

STARTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _phase(ecu: str, phase: str, segment: int | None, offset_ms: int, millis: float) -> Phase:
    return Phase(
        ecu,
        phase,
        segment,
        STARTED + timedelta(milliseconds=offset_ms),
        timedelta(milliseconds=millis),
    )


PHASES = [
    _phase("DME", "prepare", None, 0, 120.4),
    _phase("EGS", "prepare", None, 5, 80),
    _phase("DME", "erase", 0, 130, 40),
    _phase("DME", "download", 0, 170, 1500.9),
    _phase("DME", "check", 0, 1671, 12),
    _phase("EGS", "erase", 0, 90, 30),
    _phase("DME", "dependencies", None, 1700, 3),
    _phase("DME", "reset", None, 1703, 250),
    _phase("DME", "read-back", None, 1953, 9),
]


def _facts(phases: list[Phase]) -> ReportFacts:
    return ReportFacts(
        session_id="s-1",
        workflow_id="programming-s-1",
        state="completed",
        reason=None,
        vin="WBA5R1C50LFH00001",
        package_id="p-1",
        workshop_id="w-1",
        station_id="station-1",
        technician_id="t-1",
        technician_email=None,
        started_at=STARTED,
        ended_at=STARTED + timedelta(seconds=3),
        ticket=None,
        outcomes=[
            EcuOutcome("DME", "done", 100, 100, []),
            EcuOutcome("EGS", "done", 50, 50, []),
        ],
        steps=[],
        retries=[],
        frame_logs=[],
        audit=Audit(),
        built_at=STARTED + timedelta(seconds=4),
        phases=phases,
    )


def test_the_report_holds_each_ecus_phases_in_order_in_milliseconds() -> None:
    report = build_report(_facts(PHASES))
    dme, egs = report["ecus"]
    assert dme["phases"][0] == {
        "phase": "prepare",
        "segment": None,
        "started_at": "2026-03-02T09:00:00.000000Z",
        "millis": 120,  # 120.4 ms: whole milliseconds, no floats in a signed report
    }
    assert [
        (p["phase"], p["segment"], p["started_at"][11:], p["millis"]) for p in dme["phases"]
    ] == [
        ("prepare", None, "09:00:00.000000Z", 120),
        ("erase", 0, "09:00:00.130000Z", 40),
        ("download", 0, "09:00:00.170000Z", 1500),
        ("check", 0, "09:00:01.671000Z", 12),
        ("dependencies", None, "09:00:01.700000Z", 3),
        ("reset", None, "09:00:01.703000Z", 250),
        ("read-back", None, "09:00:01.953000Z", 9),
    ]
    assert [(p["phase"], p["segment"]) for p in egs["phases"]] == [("prepare", None), ("erase", 0)]
    # signed field by field: a changed duration is named
    canonical(report)  # no floats
    assert "ecus[0].phases[2].millis" in field_digests(report)


def test_a_report_without_phases_has_an_empty_list_per_ecu() -> None:
    report = build_report(_facts([]))
    assert [e["phases"] for e in report["ecus"]] == [[], []]


async def _payloads(converter: DataConverter, value: Any) -> Payloads:
    return Payloads(payloads=await converter.encode([value]))


async def _program_ecu_events(
    converter: DataConverter, results: list[EcuResult]
) -> list[HistoryEvent]:
    """A scheduled and a completed `program_ecu` event for each result, one after the other."""
    events = []
    for number, result in enumerate(results):
        scheduled = HistoryEvent(event_id=2 * number + 1)
        scheduled.event_time.FromDatetime(STARTED)
        attributes = scheduled.activity_task_scheduled_event_attributes
        attributes.activity_type.name = "program_ecu"
        request = ProgramEcuInput(
            session_id="s-1", package_id="p-1", ecu=result.ecu, expected_vin="V", workshop_id="w"
        )
        attributes.input.CopyFrom(await _payloads(converter, request))
        completed = HistoryEvent(event_id=2 * number + 2)
        completed.event_time.FromDatetime(STARTED)
        ended = completed.activity_task_completed_event_attributes
        ended.scheduled_event_id = scheduled.event_id
        ended.result.CopyFrom(await _payloads(converter, result))
        events += [scheduled, completed]
    return events


def _result(ecu: str, phases: list[EcuPhase]) -> EcuResult:
    return EcuResult(
        ecu=ecu, total_bytes=100, bytes_sent=50, seconds=1.0, transfer_seconds=0.5, phases=phases
    )


def _ecu_phase(phase: str, segment: int | None, offset_seconds: int) -> EcuPhase:
    started_at = STARTED + timedelta(seconds=offset_seconds)
    return EcuPhase(phase=phase, segment=segment, started_at=started_at, seconds=0.25)


async def test_the_history_gathers_the_phases_of_all_of_an_ecus_completed_activities() -> None:
    converter = data_converter()  # the clients' own, as the report reads the history
    stopped_for_time = _result("DME", [_ecu_phase("prepare", None, 0), _ecu_phase("erase", 0, 1)])
    recorded_before_phases = _result("EGS", [])
    resumed = _result("DME", [_ecu_phase("prepare", None, 60), _ecu_phase("erase", 1, 61)])
    history = _History(converter)
    for event in await _program_ecu_events(
        converter, [stopped_for_time, recorded_before_phases, resumed]
    ):
        await history.add(event)
    assert [(p.ecu, p.phase, p.segment) for p in history.phases] == [
        ("DME", "prepare", None),
        ("DME", "erase", 0),
        ("DME", "prepare", None),
        ("DME", "erase", 1),
    ]
    assert history.phases[3].started_at == STARTED + timedelta(seconds=61)
    assert history.phases[3].duration == timedelta(milliseconds=250)


def test_the_pdf_prints_each_ecus_phases_as_a_table() -> None:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("needs pdftotext (apt install poppler-utils)")
    key = parse_key_ring(new_key_entry())[0]
    pdf = report_pdf(sign_report(build_report(_facts(PHASES)), key))
    text = subprocess.run(
        [pdftotext, "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    rows = [line.split() for line in text.splitlines()]
    assert rows.count(["phase", "segment", "started", "at", "(UTC)", "ms"]) == 2  # one per ECU
    assert ["download", "0", "2026-03-02T09:00:00.170000Z", "1500"] in rows
    assert ["read-back", "-", "2026-03-02T09:00:01.953000Z", "9"] in rows
    assert ["erase", "0", "2026-03-02T09:00:00.090000Z", "30"] in rows  # EGS


async def _retried_program_ecu(converter: DataConverter, failure_details: Any) -> _History:
    """A history with one `program_ecu` whose second attempt started after a failure that
    carried `failure_details`, as a station sends them."""
    (scheduled, _) = await _program_ecu_events(converter, [_result("DME", [])])
    started = HistoryEvent(event_id=2)
    started.event_time.FromDatetime(STARTED + timedelta(seconds=5))
    attributes = started.activity_task_started_event_attributes
    attributes.scheduled_event_id = scheduled.event_id
    attributes.attempt = 2
    failure = ApplicationError("DME download: no answer", failure_details, type="BusTimeout")
    await converter.encode_failure(failure, attributes.last_failure)
    history = _History(converter)
    for event in (scheduled, started):
        await history.add(event)
    return history


async def test_a_retry_reads_no_more_phases_than_a_station_may_send() -> None:
    converter = data_converter()
    sent = [_ecu_phase("download", 0, n).model_dump(mode="json") for n in range(30)]
    history = await _retried_program_ecu(converter, {"phases": sent, "phases_left_out": 4})

    (retry,) = history.retries
    assert retry.cause_type == "BusTimeout"
    failed = retry.failed_attempt
    assert len(failed.phases) == FAILED_ATTEMPT_PHASES_KEPT
    assert failed.phases[-1].started_at == STARTED + timedelta(seconds=29)  # the last ones
    assert failed.left_out == 4 + 30 - FAILED_ATTEMPT_PHASES_KEPT


@pytest.mark.parametrize(
    "details",
    [
        {"phases": [{"phase": "download", "started_at": "not a time", "seconds": 1}]},
        {"phases": "download"},
        {"phases_left_out": 3},
    ],
)
async def test_a_retry_whose_failure_carries_no_phases_has_none(details: Any) -> None:
    history = await _retried_program_ecu(data_converter(), details)

    (retry,) = history.retries
    assert retry.cause == "BusTimeout: DME download: no answer"
    assert retry.failed_attempt == FailedAttempt()
