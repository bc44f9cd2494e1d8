"""What a failed station step tells the programming flow: its failure type, a reason to show
the technician, and how far its segment got (to resume there, or only to finish the ECU).

Pure reading of the activity error; the flow decides what to do with it."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts.programming import SEGMENT_CHECKED
    from domain.programming import DownloadProgress, EcuProgress


def error_type(error: ActivityError) -> str | None:
    """The station's failure type (`StationFailure`, a vehicle error's code), if it named one."""
    return error.cause.type if isinstance(error.cause, ApplicationError) else None


def reason(error: ActivityError) -> str:
    """The failure's message, for the session's reason and the technician."""
    cause = error.cause
    return str(cause.message if isinstance(cause, ApplicationError) else cause or error)


@dataclass(frozen=True)
class SegmentLeftAt:
    """How far a failed segment got: downloaded and checked (only the ECU's finish is left),
    and the last block the ECU confirmed (a retry resumes after it)."""

    checked: bool
    progress: DownloadProgress | None


def segment_left_at(error: ActivityError) -> SegmentLeftAt:
    """Read from the failure's details, or from the last heartbeat of a step that timed out."""
    cause = error.cause
    details: list[object] = []
    if isinstance(cause, ApplicationError):
        details = list(cause.details)
    elif isinstance(cause, TimeoutError):
        details = list(cause.last_heartbeat_details)
    checked, progress = False, None
    for detail in details:
        if detail == SEGMENT_CHECKED or (
            isinstance(detail, dict) and detail.get("segment_checked")
        ):
            checked = True
        if isinstance(detail, dict):
            found = detail.get("progress", detail)
            if isinstance(found, dict) and "next_block_index" in found:
                progress = DownloadProgress.model_validate(found)
    return SegmentLeftAt(checked=checked, progress=progress)


def ecu_left_at(error: ActivityError) -> EcuProgress | None:
    """How far a failed ECU activity got (`program_ecu`): from its failure's details, or the
    last heartbeat of an activity that timed out. None when it did not say (then the resume
    continues from where the ECU's activity last started)."""
    cause = error.cause
    found: object = None
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        found = detail.get("ecu_progress") if isinstance(detail, dict) else None
    elif isinstance(cause, TimeoutError) and cause.last_heartbeat_details:
        found = cause.last_heartbeat_details[0]
    if isinstance(found, dict) and "step" in found and "ecu" in found:
        return EcuProgress.model_validate(found)
    return None
