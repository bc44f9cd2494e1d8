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
