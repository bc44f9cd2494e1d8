"""The progress every client is served (`progress_view`) and the answers kept between looks
(`RecentProgress`): the rules, without a server. The served path, through the API, the console
and the dev server, is tests/programming/test_progress_calls.py."""

from __future__ import annotations

from datetime import timedelta

from application.programming import RecentProgress
from application.programming_views import progress_view
from contracts.programming import EcuOutcome, ProgrammingProgress
from domain.programming import DownloadProgress, EcuStatus


def _progress(**changes: object) -> ProgrammingProgress:
    progress = ProgrammingProgress(
        session_id="s-1",
        state="programming",
        vin="WBA8E5105FK731548",
        station_id="bay-1",
        current_ecu="EGS",
        current_step="segment 2/2",
        bytes_done=1000 + 600,
        bytes_total=1000 + 1000,
        throughput_bytes_per_second=100.0,
        eta=timedelta(seconds=4),
        remaining_coverage=timedelta(hours=1, seconds=0.9),
        reason=None,
        ecus=[
            EcuOutcome(ecu="DME", status=EcuStatus.DONE, bytes_total=1000, bytes_done=1000),
            EcuOutcome(ecu="EGS", status=EcuStatus.PROGRAMMING, bytes_total=1000, bytes_done=600),
        ],
    )
    return progress.model_copy(update=changes)


def _heartbeat(bytes_confirmed: int) -> DownloadProgress:
    return DownloadProgress(
        next_block_index=bytes_confirmed // 100,
        block_size=100,
        bytes_confirmed=bytes_confirmed,
        total_bytes=400,
    )


def test_the_running_segment_counts_into_its_ecu_and_the_estimate() -> None:
    view = progress_view(_progress(), _heartbeat(300))
    served = view.model_dump(mode="json")
    assert served["bytes_done"] == 1600 and served["bytes_in_running_segment"] == 300
    assert served["bytes_confirmed"] == 1900 and served["percent"] == 95
    assert [(e["ecu"], e["bytes_confirmed"], e["percent"]) for e in served["ecus"]] == [
        ("DME", 1000, 100),
        ("EGS", 900, 90),
    ]
    assert served["eta_seconds"] == 1  # 100 bytes left at 100 bytes/s, not the workflow's 4
    assert served["remaining_seconds"] == 3600  # whole seconds, rounded down
    assert "eta" not in served and "remaining_coverage" not in served


def test_a_heartbeat_never_counts_past_the_ecu_nor_into_another() -> None:
    beyond = progress_view(_progress(), _heartbeat(900)).model_dump(mode="json")
    assert beyond["bytes_in_running_segment"] == 400 and beyond["percent"] == 100
    assert beyond["eta_seconds"] == 0
    between_ecus = progress_view(_progress(current_ecu=None), _heartbeat(300))
    assert between_ecus.bytes_in_running_segment == 0 and between_ecus.bytes_confirmed == 1600


def test_without_a_running_segment_the_view_is_the_workflows_count() -> None:
    view = progress_view(_progress(throughput_bytes_per_second=None, eta=None))
    assert (view.bytes_confirmed, view.percent, view.eta_seconds) == (1600, 80, None)
    assert [ecu.bytes_confirmed for ecu in view.ecus] == [1000, 600]


def test_a_kept_progress_answers_only_for_its_run_and_history_length() -> None:
    recent = RecentProgress(max_sessions=2)
    recent.put("programming-a", "run-1", 40, _progress(session_id="a"))
    assert recent.get("programming-a", "run-1", 40) == _progress(session_id="a")
    assert recent.get("programming-a", "run-1", 41) is None  # the history grew
    assert recent.get("programming-a", "run-2", 40) is None  # another run (a reset)
    assert recent.get("programming-b", "run-1", 40) is None


def test_the_least_recently_watched_session_is_let_go_first() -> None:
    recent = RecentProgress(max_sessions=2)
    recent.put("programming-a", "run-a", 1, _progress(session_id="a"))
    recent.put("programming-b", "run-b", 1, _progress(session_id="b"))
    assert recent.get("programming-a", "run-a", 1) is not None  # a is watched again
    recent.put("programming-c", "run-c", 1, _progress(session_id="c"))
    assert recent.get("programming-b", "run-b", 1) is None
    assert recent.get("programming-a", "run-a", 1) is not None
    assert recent.get("programming-c", "run-c", 1) is not None
