"""Vehicle errors as the station's activities raise them: ApplicationErrors typed by their code,
so Temporal retries the transient ones and fails the fatal ones at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.programming import DownloadProgress, EcuStep
from hw.errors import VehicleLinkError


@contextlib.contextmanager
def vehicle_errors_typed(
    progress: list[DownloadProgress] | None = None,
    step: EcuStep | None = None,
    segment_checked: bool = False,
) -> Iterator[None]:
    """Vehicle errors become ApplicationErrors typed by their code (fatal ones non-retryable),
    naming the step that failed and carrying the last confirmed progress, so a technician's
    resume continues from there."""
    try:
        yield
    except VehicleLinkError as error:
        details: dict[str, object] = {"code": error.code}
        if step is not None:
            details["step"] = step
        if progress:
            details["progress"] = progress[-1].model_dump()
        if segment_checked:  # a resume only has to finish the ECU
            details["segment_checked"] = True
        message = f"{step}: {error}" if step is not None else str(error)
        raise vehicle_failure(error, message, details) from None


def vehicle_failure(
    error: VehicleLinkError, message: str, details: dict[str, object]
) -> ApplicationError:
    """The ApplicationError a station activity fails with for `error`: typed by its code, not
    retried when the error is fatal. Raise it `from None`: the vehicle error's chained stack
    traces (udsoncan's, the link's) are for the station's log, written here; the history gets
    the code, the message and the details (progress, the attempt's phases). Every failure's
    size is bounded where it is encoded (`temporal_client.BoundedFailureConverter`); without
    the chain, a station's failure needs no cutting there."""
    activity.logger.warning("%s", message, exc_info=error)
    return ApplicationError(message, details, type=error.code, non_retryable=not error.transient)
