"""The programming plan (lanes like a TAL's) and the time rule per segment: pure domain."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.flash_package import ProcessClass, SoftwareUnit, SoftwareVersion
from domain.programming import (
    EcuPlan,
    Reach,
    estimate_ecu_duration,
    estimate_segment_duration,
    may_start_segment,
    plan_lanes,
)
from domain.programming_timing import ProgrammingTiming

VERSION = SoftwareVersion(major=2, minor=0, patch=0)
PROGRAM = SoftwareUnit(process_class=ProcessClass.SWFL, sgbm_id=1, version=VERSION)
CODING = SoftwareUnit(process_class=ProcessClass.CAFD, sgbm_id=2, version=VERSION)
RATE = 100_000.0


def _ecu(
    name: str, size: int = 1_000_000, units: tuple[SoftwareUnit, ...] = (PROGRAM, CODING)
) -> EcuPlan:
    return EcuPlan(ecu=name, target_units=list(units), total_bytes=size, segment_count=2)


FOUR = [_ecu("DME"), _ecu("EGS"), _ecu("BDC"), _ecu("KOMBI")]
ONE = estimate_ecu_duration(1_000_000, RATE).total_seconds()  # 10 s + the fixed 20 s


def test_over_doip_each_ecu_is_a_lane_and_the_limit_bounds_the_estimate() -> None:
    plan = plan_lanes(
        FOUR, Reach.DOIP, parallel=True, max_parallel=4, throughput_bytes_per_second=RATE
    )
    assert [lane.ecus for lane in plan.lanes] == [["DME"], ["EGS"], ["BDC"], ["KOMBI"]]
    assert plan.estimated_seconds == pytest.approx(ONE)  # all four at once

    two = plan_lanes(
        FOUR, Reach.DOIP, parallel=True, max_parallel=2, throughput_bytes_per_second=RATE
    )
    assert (two.max_parallel, two.estimated_seconds) == (2, pytest.approx(2 * ONE))


def test_on_a_can_bus_the_ecus_share_one_lane() -> None:
    plan = plan_lanes(
        FOUR, Reach.CAN, parallel=True, max_parallel=4, throughput_bytes_per_second=RATE
    )
    assert [lane.ecus for lane in plan.lanes] == [["DME", "EGS", "BDC", "KOMBI"]]
    assert plan.estimated_seconds == pytest.approx(4 * ONE)


def test_without_parallel_everything_runs_in_one_lane() -> None:
    plan = plan_lanes(
        FOUR, Reach.DOIP, parallel=False, max_parallel=4, throughput_bytes_per_second=RATE
    )
    assert [lane.ecus for lane in plan.lanes] == [["DME", "EGS", "BDC", "KOMBI"]]
    assert (plan.parallel, plan.max_parallel, plan.estimated_seconds) == (
        False,
        1,
        pytest.approx(4 * ONE),
    )


def test_a_coding_only_ecu_runs_alone_after_the_others() -> None:
    ecus = [_ecu("DME"), _ecu("BDC", units=(CODING,)), _ecu("EGS")]
    plan = plan_lanes(
        ecus, Reach.DOIP, parallel=True, max_parallel=4, throughput_bytes_per_second=RATE
    )
    assert [(lane.ecus, lane.alone) for lane in plan.lanes] == [
        (["DME"], False),
        (["EGS"], False),
        (["BDC"], True),
    ]
    assert plan.estimated_seconds == pytest.approx(2 * ONE)


def test_each_ecu_has_its_ordered_actions() -> None:
    plan = plan_lanes(
        [_ecu("DME")], Reach.CAN, parallel=True, max_parallel=4, throughput_bytes_per_second=RATE
    )
    assert plan.actions["DME"] == [
        "prepare",
        "erase 0",
        "download 0",
        "check 0",
        "erase 1",
        "download 1",
        "check 1",
        "finish",
    ]


def test_a_segment_starts_only_if_it_can_finish_with_the_margin() -> None:
    estimate = estimate_segment_duration(100_000, RATE, timedelta(seconds=4))
    assert estimate == timedelta(seconds=5)
    assert may_start_segment(estimate, timedelta(seconds=6))  # 5 s x 1.2
    assert not may_start_segment(estimate, timedelta(seconds=5.9))


# An ECU's own figures (as it reports them in DID 0xF1A0): 1 MiB erased in 10 s, written in
# 12 s, 2.5 s per check, 1.5 s to restart.
FIGURES = ProgrammingTiming(erase_ms_per_kib=10, write_ms_per_kib=12, check_ms=2500, reset_ms=1500)


def test_a_large_segments_erase_is_estimated_from_the_ecus_figures() -> None:
    """The erase grows with the segment: after a small segment took 4 s to erase and check, a
    4 MiB one at 10 ms per KiB needs 41 s of erase and 2.5 s of check, and 10 s left no longer
    let it start, as the small segment's steps alone would have."""
    large = 4 * 1024 * 1024
    measured = timedelta(seconds=4)
    without = estimate_segment_duration(large, 1_000_000.0, measured)
    with_figures = estimate_segment_duration(large, 1_000_000.0, measured, FIGURES)
    assert may_start_segment(without, timedelta(seconds=10))
    assert with_figures == timedelta(seconds=large / 1_000_000 + 40.96 + 2.5)
    assert not may_start_segment(with_figures, timedelta(seconds=10))
    assert may_start_segment(with_figures, timedelta(seconds=60))
    # Figures smaller than what the ECU took so far never shorten the estimate.
    fast = ProgrammingTiming(erase_ms_per_kib=0, write_ms_per_kib=0, check_ms=0, reset_ms=0)
    assert estimate_segment_duration(large, 1_000_000.0, measured, fast) == without


def _segmented(name: str) -> EcuPlan:
    """Two segments, 512 KiB each (1 MiB in all)."""
    half = 512 * 1024
    return EcuPlan(
        ecu=name,
        target_units=[PROGRAM],
        total_bytes=2 * half,
        segment_count=2,
        segment_lengths=[half, half],
    )


def test_the_estimate_uses_the_figures_the_ecus_report_and_falls_back_without() -> None:
    ecus = [_segmented("DME"), _segmented("EGS"), _segmented("BDC")]
    # By hand: 1024 KiB x (10 + 12) ms + 2 checks x 2.5 s + 1.5 s reset = 29.028 s, plus
    # 1 MiB on the wire at 100 kB/s = 10.48576 s.
    by_figures = 1024 * 22 / 1000 + 2 * 2.5 + 1.5 + 1024 * 1024 / RATE
    assert by_figures == pytest.approx(39.51376)
    plan = plan_lanes(
        ecus,
        Reach.CAN,
        parallel=True,
        max_parallel=4,
        throughput_bytes_per_second=RATE,
        timing={"DME": FIGURES, "EGS": None},  # EGS reports none, BDC was not asked
    )
    fallback = estimate_ecu_duration(1024 * 1024, RATE).total_seconds()  # 10.48576 s + 20 s
    assert plan.timing_from_ecu == ["DME"]
    assert plan.estimated_ecu_seconds == {
        "DME": pytest.approx(by_figures),
        "EGS": pytest.approx(fallback),
        "BDC": pytest.approx(fallback),
    }
    # One CAN lane: the ECUs one after another, their estimates add up.
    assert plan.estimated_seconds == pytest.approx(by_figures + 2 * fallback)

    # Over DoIP every ECU is a lane: the longest lane is the plan's estimate.
    slow = FIGURES.model_copy(update={"check_ms": 60_000})
    doip = plan_lanes(
        ecus,
        Reach.DOIP,
        parallel=True,
        max_parallel=4,
        throughput_bytes_per_second=RATE,
        timing={"DME": FIGURES, "EGS": slow, "BDC": FIGURES},
    )
    assert doip.estimated_seconds == pytest.approx(by_figures + 2 * (60 - 2.5))
    assert doip.timing_from_ecu == ["DME", "EGS", "BDC"]
