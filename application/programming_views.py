"""A programming session's progress as every client is served it: the API's JSON, the
console's live page and `aos flash watch` (which reads the JSON).

Two things are added to the workflow's `ProgrammingProgress` here, once:
- the bytes inside the running segment: the workflow counts a segment when its activity has
  finished, which for a large segment takes minutes; how far it got meanwhile is the
  activity's last heartbeat (`progress_view`'s `running`);
- durations in whole seconds: `timedelta`s would show in JSON as ISO 8601 durations with a
  fraction of a second (`P2DT51M46.414258S`), a form JSON Schema's `duration` format does not
  allow. Clients get integers of seconds instead, named for their unit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, computed_field

from contracts.programming import EcuOutcome, ProgrammingProgress
from domain.programming import DownloadProgress, EcuStatus


def whole_seconds(duration: timedelta | None) -> int | None:
    """Seconds, rounded down (a time left is never overstated); None stays None."""
    return None if duration is None else int(duration.total_seconds())


PERCENT_BOUNDS: dict[str, Any] = {"minimum": 0, "maximum": 100}


def whole_percent(done: int, total: int) -> int:
    """`done` of `total` in whole percent, rounded down, at most 100; 0 when there is nothing."""
    return min(100, done * 100 // total) if total > 0 else 0


class EcuOutcomeView(EcuOutcome):
    overrun: timedelta | None = Field(default=None, exclude=True)
    bytes_confirmed: int = Field(
        ge=0,
        description="Bytes the ECU has confirmed: `bytes_done` (its finished segments) plus, "
        "while it is programmed, the blocks of its running segment confirmed so far",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds the ECU ran past the purchased time (it is never cut off)"
    )
    @property
    def overrun_seconds(self) -> int | None:
        return whole_seconds(self.overrun)

    @computed_field(  # type: ignore[prop-decorator]
        description="`bytes_confirmed` of `bytes_total`, in whole percent (rounded down; 0 "
        "for an ECU with nothing to program)",
        json_schema_extra=PERCENT_BOUNDS,
    )
    @property
    def percent(self) -> int:
        return whole_percent(self.bytes_confirmed, self.bytes_total)


class ProgressView(ProgrammingProgress):
    """`ProgrammingProgress` with the running segment's bytes counted in (`bytes_confirmed`,
    `percent`, each ECU's too) and `eta_seconds` and `remaining_seconds` for its durations."""

    eta: timedelta | None = Field(exclude=True)
    remaining_coverage: timedelta | None = Field(exclude=True)
    ecus: list[EcuOutcomeView]  # type: ignore[assignment]
    bytes_in_running_segment: int = Field(
        ge=0,
        description="Bytes the ECUs being programmed have confirmed beyond `bytes_done` (their "
        "activities' last heartbeats); `bytes_done` counts an ECU's bytes once its activity "
        "ended. 0 when nothing runs, and in the answers of a step (resume, skip, abort) and "
        "of the report",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Bytes the ECUs have confirmed: `bytes_done` plus `bytes_in_running_segment`",
        json_schema_extra={"minimum": 0},
    )
    @property
    def bytes_confirmed(self) -> int:
        return self.bytes_done + self.bytes_in_running_segment

    @computed_field(  # type: ignore[prop-decorator]
        description="`bytes_confirmed` of `bytes_total`, in whole percent (rounded down)",
        json_schema_extra=PERCENT_BOUNDS,
    )
    @property
    def percent(self) -> int:
        return whole_percent(self.bytes_confirmed, self.bytes_total)

    @computed_field(  # type: ignore[prop-decorator]
        description="Estimated seconds until the session's remaining ECUs are programmed: the "
        "bytes not yet confirmed at the throughput measured so far (None before the first "
        "segment finished)"
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


def progress_view(
    progress: ProgrammingProgress, running: DownloadProgress | dict[str, int] | None = None
) -> ProgressView:
    """The session's progress with `running`, the last heartbeat of the segment being
    downloaded, counted into the ECU being programmed (never past its size); or, sessions with
    one activity per ECU, the bytes each ECU being programmed has confirmed. Without it (a
    step's answer, a report, nothing running) the view counts finished segments only."""
    ecus: list[EcuOutcomeView] = []
    in_segment = 0
    for outcome in progress.ecus:
        confirmed = outcome.bytes_done
        if isinstance(running, dict):
            if outcome.ecu in running and outcome.status == EcuStatus.PROGRAMMING:
                confirmed = min(outcome.bytes_total, max(confirmed, running[outcome.ecu]))
                in_segment += confirmed - outcome.bytes_done
        elif (
            running is not None
            and outcome.ecu == progress.current_ecu
            and outcome.status == EcuStatus.PROGRAMMING
        ):
            confirmed = min(outcome.bytes_total, outcome.bytes_done + running.bytes_confirmed)
            in_segment += confirmed - outcome.bytes_done
        ecus.append(EcuOutcomeView(**outcome.model_dump(), bytes_confirmed=confirmed))
    throughput = progress.throughput_bytes_per_second
    eta = progress.eta
    if throughput:  # the same estimate as the workflow's, from the bytes confirmed by now
        left = progress.bytes_total - progress.bytes_done - in_segment
        eta = timedelta(seconds=max(0, left) / throughput)
    return ProgressView(
        **progress.model_dump(exclude={"ecus", "eta"}),
        ecus=ecus,
        eta=eta,
        bytes_in_running_segment=in_segment,
    )
