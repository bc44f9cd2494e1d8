"""A programming session's progress as the API shows it: durations in whole seconds.

The workflow's `ProgrammingProgress` carries `timedelta`s, which JSON would show as ISO 8601
durations with a fraction of a second (`P2DT51M46.414258S`), a form JSON Schema's `duration`
format does not allow. Clients get integers of seconds instead, named for their unit.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, computed_field

from contracts.programming import EcuOutcome, ProgrammingProgress


def whole_seconds(duration: timedelta | None) -> int | None:
    """Seconds, rounded down (a time left is never overstated); None stays None."""
    return None if duration is None else int(duration.total_seconds())


class EcuOutcomeView(EcuOutcome):
    overrun: timedelta | None = Field(default=None, exclude=True)

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds the ECU ran past the purchased time (it is never cut off)"
    )
    @property
    def overrun_seconds(self) -> int | None:
        return whole_seconds(self.overrun)


class ProgressView(ProgrammingProgress):
    """`ProgrammingProgress` with `eta_seconds` and `remaining_seconds` for its durations."""

    eta: timedelta | None = Field(exclude=True)
    remaining_coverage: timedelta | None = Field(exclude=True)
    ecus: list[EcuOutcomeView]  # type: ignore[assignment]

    @computed_field(  # type: ignore[prop-decorator]
        description="Estimated seconds until the session's remaining ECUs are programmed"
    )
    @property
    def eta_seconds(self) -> int | None:
        return whole_seconds(self.eta)

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds of purchased programming time left (whole seconds, rounded down)"
    )
    @property
    def remaining_seconds(self) -> int | None:
        return whole_seconds(self.remaining_coverage)
