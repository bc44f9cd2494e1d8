"""ECU programming sessions: start, watch, steer (resume, skip an ECU, abort), report, trace;
and the flash packages they use.

The routes parse the request and shape the answer; every rule and workflow call is a use case
of `application.programming`, which the console's programming pages call too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.types import DecoratedCallable

from api.uploads import bounded_chunks, upload_body
from application import programming as use_cases
from application import programming_reports as reports
from application.programming import PackageSummary, SessionRequest, SessionStarted
from application.programming_report_pdf import report_pdf
from application.programming_reports import ReportKey, ReportKeys
from application.programming_views import ProgressView
from application.workflow_calls import STATION_NOT_KNOWN_YET_HEADER, StationNotKnownYet
from contracts.programming import AbortInput, ResumeInput, SkipEcuInput
from domain.errors import NotFound
from domain.programming import (
    NotAtSafePoint,
    PackageExists,
    PackageHasTooManyFiles,
    PackageInvalid,
    PackageNotFound,
    PackageTooLarge,
    PackageUnpacksTooLarge,
    ProgrammingSessionEnded,
)
from domain.programming_report import ProgrammingSessionRunning
from domain.service_history import StationNotFound, StationOffline
from domain.vin import InvalidVinGiven
from web.deps import (
    AdminUser,
    CurrentUser,
    PackagesDep,
    ProgrammingAccess,
    ResourcesDep,
    SettingsDep,
)
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses, with_retry_after

router = APIRouter(tags=["programming"])


@router.post(
    "/programming-sessions",
    status_code=201,
    response_model=SessionStarted,
    responses=with_retry_after(
        problem_responses(
            InvalidVinGiven,
            StationNotFound,
            PackageNotFound,
            PackageInvalid,
            StationOffline,
            StationNotKnownYet,
        ),
        503,
        STATION_NOT_KNOWN_YET_HEADER,
    ),
)
async def start_session(
    body: SessionRequest, user: CurrentUser, coverage: ProgrammingAccess, resources: ResourcesDep
) -> SessionStarted:
    """Start programming the car at a station with a flash package, on purchased time.

    Refused before anything touches the car: an invalid VIN, an unknown or corrupt package
    (naming the ECU and the check), a station without a running worker (409
    `station-offline`; 503 `workflow-unavailable` with `Retry-After` while Temporal, just
    restarted, does not list a worker that polled through the gateway lately).
    """
    return await use_cases.start_programming(resources, user, body)


@router.get(
    "/programming-sessions/{session_id}",
    response_model=ProgressView,
    responses=problem_responses(NotFound, WORKFLOW_UNAVAILABLE),
)
async def session_progress(
    session_id: str, user: CurrentUser, resources: ResourcesDep
) -> ProgressView:
    """Where the session is: state, current ECU and step, bytes (`bytes_confirmed` and
    `percent` count the blocks the running segment has confirmed so far, `bytes_done`
    finished segments only), throughput, ETA, purchased time left."""
    return await use_cases.session_progress(resources, user, session_id)


# 409: the session has ended (its final `state` is named), or cannot take the step now
STEERING_RESPONSES = problem_responses(
    ProgrammingSessionEnded, NotAtSafePoint, WORKFLOW_UNAVAILABLE
)


def steering_step(path: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of a step that steers a running session (`POST path`): it answers the
    session's progress, or one of the `STEERING_RESPONSES`."""
    return router.post(path, response_model=ProgressView, responses=STEERING_RESPONSES)


@steering_step("/programming-sessions/{session_id}/resume")
async def resume_session(
    session_id: str, body: ResumeInput, user: CurrentUser, resources: ResourcesDep
) -> ProgressView:
    """After a fault: the car is identified again (same VIN) and the flash continues.

    Answers with the progress once the session has left `needs_technician`."""
    return await use_cases.resume_session(resources, user, session_id, body)


@steering_step("/programming-sessions/{session_id}/skip-ecu")
async def skip_ecu(
    session_id: str, body: SkipEcuInput, user: CurrentUser, resources: ResourcesDep
) -> ProgressView:
    """Leave out an ECU that has not started yet; the answer shows it `skipped`."""
    return await use_cases.skip_ecu(resources, user, session_id, body)


@steering_step("/programming-sessions/{session_id}/abort")
async def abort_session(
    session_id: str, body: AbortInput, user: CurrentUser, resources: ResourcesDep
) -> ProgressView:
    """Stop the session at a safe point (never during a transfer); answers once it is
    `aborted`."""
    return await use_cases.abort_session(resources, user, session_id, body)


SIGNED_REPORT = (
    "The signed report: `report` (per ECU the identification before and after, the "
    "fingerprint, the SHA-256 of every segment sent, the check-memory results, the retries "
    "and their causes, the step and phase times, and a failed attempt's phases; the vehicle's "
    "software before and after; who, when, the ticket; the frame logs' SHA-256; the protocol "
    "audit's verdict and violations; the events in a hash chain), "
    "`manifest` (the SHA-256 of each field, by its path) and `signature` (Ed25519 over the "
    "canonical JSON of format, manifest and report; `key_id` names the key of "
    "GET /programming-report-keys). `aos report verify` checks it offline."
)
REPORT_RESPONSES = problem_responses(NotFound, ProgrammingSessionRunning, WORKFLOW_UNAVAILABLE)


@router.get(
    "/programming-sessions/{session_id}/report",
    response_class=Response,
    responses={
        200: {
            "description": SIGNED_REPORT,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["report", "manifest", "signature"],
                        "properties": {
                            "report": {"type": "object"},
                            "manifest": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "signature": {
                                "type": "object",
                                "properties": {
                                    "algorithm": {"type": "string", "enum": ["Ed25519"]},
                                    "key_id": {"type": "string"},
                                    "value": {"type": "string", "format": "byte"},
                                },
                            },
                        },
                    }
                }
            },
        },
        **REPORT_RESPONSES,
    },
)
async def session_report(session_id: str, user: CurrentUser, resources: ResourcesDep) -> Response:
    """The signed programming report, once the session has ended (409
    `programming-session-running` while it runs). Built and signed at the first request, then
    kept: every later request answers the same bytes."""
    document = await reports.programming_report(resources, user, session_id)
    return Response(document, media_type="application/json")


@router.get(
    "/programming-sessions/{session_id}/report.pdf",
    response_class=Response,
    responses={
        200: {
            "description": "The signed report printed: its fields, the key id and signature",
            "content": {"application/pdf": {}},
        },
        **REPORT_RESPONSES,
    },
)
async def session_report_pdf(
    session_id: str, user: CurrentUser, resources: ResourcesDep
) -> Response:
    """The signed programming report as a PDF (English, times in UTC): the same report as
    `/report`, with the key id and the signature that seal it."""
    document = await reports.programming_report(resources, user, session_id)
    return Response(
        await asyncio.to_thread(report_pdf, document),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="programming-report-{session_id}.pdf"'},
    )


@router.get("/programming-report-keys", response_model=ReportKeys)
async def report_keys(resources: ResourcesDep) -> ReportKeys:
    """The public keys programming reports are signed with (no sign-in needed): the signing
    key first, the keys it replaced after it, each with its validity."""
    keys = reports.report_public_keys(resources)
    return ReportKeys(keys=[ReportKey(**key.as_json()) for key in keys])


@router.get(
    "/programming-sessions/{session_id}/trace",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "ASC frame log"},
        **problem_responses(NotFound, WORKFLOW_UNAVAILABLE),
    },
)
async def session_trace(
    session_id: str, user: CurrentUser, resources: ResourcesDep
) -> StreamingResponse:
    """Every UDS frame of the session, as python-can ASC logs in the order they were written,
    each under a `// <file name>` line."""
    # A plain iterator: Starlette reads each chunk in a worker thread.
    chunks = await use_cases.session_frame_log(resources, user, session_id)
    return StreamingResponse(chunks, media_type="text/plain")


@router.get("/packages", response_model=list[PackageSummary])
async def list_packages(user: CurrentUser, resources: ResourcesDep) -> list[PackageSummary]:
    """The flash packages available to programming sessions."""
    return await use_cases.package_summaries(resources)


@router.post(
    "/packages",
    status_code=201,
    response_model=PackageSummary,
    responses=problem_responses(
        PackageInvalid,
        PackageExists,
        PackageTooLarge,
        PackageUnpacksTooLarge,
        PackageHasTooManyFiles,
    ),
    openapi_extra=upload_body(
        "application/gzip",
        "A gzipped tar of at most {package_max_upload_bytes} bytes (413 `package-too-large`) "
        "whose files hold at most {package_max_unpacked_bytes} bytes unpacked (413 "
        "`package-unpacks-too-large`) in at most {package_max_files} entries (413 "
        "`package-has-too-many-files`).",
        {
            "x-max-bytes": "package_max_upload_bytes",
            "x-max-unpacked-bytes": "package_max_unpacked_bytes",
            "x-max-entries": "package_max_files",
        },
    ),
)
async def upload_package(
    request: Request, admin: AdminUser, packages: PackagesDep, settings: SettingsDep
) -> PackageSummary:
    """Add a flash package: a gzipped tar of `manifest.json` and its segment files.

    The upload is written to disk as it comes and refused at the byte that passes its bound;
    unpacking stops at the bound of the files' bytes or of the entries. Every checksum, the
    structure and the dependencies are verified before it is stored; refusals name the ECU and
    the check. Uploading the identical package again is a no-op.
    """
    max_bytes = settings.package_max_upload_bytes
    archive = await asyncio.to_thread(packages.upload_file)
    try:
        with archive.open("wb") as out:
            async for chunk in bounded_chunks(
                request,
                max_bytes,
                lambda: PackageTooLarge(
                    f"the package upload may hold at most {max_bytes} bytes", max_bytes=max_bytes
                ),
            ):
                await asyncio.to_thread(out.write, chunk)  # disk writes off the event loop
        manifest = await asyncio.to_thread(
            packages.store_archive,
            archive,
            max_unpacked_bytes=settings.package_max_unpacked_bytes,
            max_files=settings.package_max_files,
        )
        return use_cases.package_summary(manifest)
    finally:
        archive.unlink(missing_ok=True)
