"""The rule for how long `make dev` waits before starting a crashed part again."""

from __future__ import annotations

import pytest

from supervisor import crashes_in_a_row, restart_delay


@pytest.mark.parametrize(
    ("crashes", "delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (60, 10.0), (10_000, 10.0)],
)
def test_the_delay_doubles_with_each_crash_in_a_row_up_to_the_ceiling(
    crashes: int, delay: float
) -> None:
    assert restart_delay(crashes, initial=0.5, maximum=10.0) == delay


def test_a_part_that_ran_without_trouble_for_a_while_starts_its_count_anew() -> None:
    assert crashes_in_a_row(previous=5, untroubled_for=59.9, stable_after=60) == 6
    assert crashes_in_a_row(previous=5, untroubled_for=60.0, stable_after=60) == 1
    assert crashes_in_a_row(previous=0, untroubled_for=0.0, stable_after=60) == 1
