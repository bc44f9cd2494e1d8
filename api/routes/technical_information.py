"""Technical information: search the repair documents by VIN and by words, read one (with a
`technical_information` ticket; security-related ones with the reader's SERMI approval), its
versions, the workshop's reading history; administrators record SERMI approvals and see the
usage per document. The rules are in `application.technical_information`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from application.document_publishing import (
    DocumentDraft,
    DocumentExists,
    VersionDraft,
    draft_document,
    draft_version,
    move_document_version,
)
from application.sermi_approvals import (
    PersonNotFound,
    SermiApprovalView,
    list_sermi_approvals,
    record_sermi_approval,
    revoke_sermi_approval,
)
from application.technical_information import (
    DocumentReading,
    DocumentSearchResult,
    DocumentUsage,
    MomentText,
    ReadingHistory,
    VersionSummary,
    document_usage,
    document_versions,
    read_document,
    search_documents,
    workshop_reading_history,
)
from contracts.technical_information import DocumentPublishingStatus, PublishingUpdate
from db.base import INTEGER_MAX
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import Forbidden
from domain.service_history import VehicleNotFound
from domain.technical_information import (
    CERTIFICATE_REFERENCE_PATTERN,
    DOCUMENT_ID_MAX_LENGTH,
    DOCUMENT_ID_PATTERN,
    SEARCH_PAGE_MAX,
    SEARCH_QUERY_MAX_LENGTH,
    DocumentNotFound,
    DocumentType,
    DocumentVersionNotFound,
    InvalidDocument,
    InvalidSearch,
    InvalidSermiApproval,
    Language,
    SermiApprovalNotFound,
    SermiApprovalRequired,
    SystemGroup,
    WrongVersionState,
)
from domain.vin import VIN_PATTERN, InvalidVinGiven
from web.deps import AdminUser, CurrentUser, ResourcesDep
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses

router = APIRouter(tags=["technical information"])

DocumentIdPath = Annotated[
    str,
    Path(
        min_length=3,
        max_length=DOCUMENT_ID_MAX_LENGTH,
        pattern=DOCUMENT_ID_PATTERN,
        description="The document's id, e.g. RI-F30-3411",
    ),
]
LanguageQuery = Annotated[
    Language, Query(description="The language to read in; a document only in the other says so")
]


@router.get(
    "/technical-information/documents",
    response_model=DocumentSearchResult,
    responses=problem_responses(InvalidSearch, InvalidVinGiven, VehicleNotFound),
)
async def search(
    user: CurrentUser,
    resources: ResourcesDep,
    q: Annotated[
        str,
        Query(
            max_length=SEARCH_QUERY_MAX_LENGTH,
            description="Words that must all occur (title or text); empty lists every document",
        ),
    ] = "",
    vin: Annotated[
        str | None,
        Query(
            json_schema_extra={"pattern": VIN_PATTERN},
            description="Only documents that apply to this vehicle's series, type code and "
            "production date",
        ),
    ] = None,
    doc_type: Annotated[list[DocumentType], Query(max_length=len(DocumentType))] = [],  # noqa: B006
    system_group: Annotated[list[SystemGroup], Query(max_length=len(SystemGroup))] = [],  # noqa: B006
    language: LanguageQuery = Language.EN,
    limit: Annotated[int, Query(ge=1, le=SEARCH_PAGE_MAX)] = 20,
    offset: Annotated[int, Query(ge=0, le=INTEGER_MAX)] = 0,
) -> DocumentSearchResult:
    """Search published documents, best first. Open to every signed-in person (titles);
    snippets of the text come with a `technical_information` ticket (`may_read`)."""
    return await search_documents(
        resources,
        user,
        query=q,
        vin=vin,
        doc_types=doc_type,
        system_groups=system_group,
        language=language,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/technical-information/documents/{document_id}",
    response_model=DocumentReading,
    responses=problem_responses(
        DocumentNotFound,
        DocumentVersionNotFound,
        Forbidden,
        NoAccess,
        AccessExpired,
        SermiApprovalRequired,
    ),
)
async def document(
    document_id: DocumentIdPath,
    user: CurrentUser,
    resources: ResourcesDep,
    version: Annotated[
        int | None, Query(ge=1, le=INTEGER_MAX, description="Default: the current version")
    ] = None,
    language: LanguageQuery = Language.EN,
) -> DocumentReading:
    """Read a document (recorded in the workshop's reading history). Needs a
    `technical_information` ticket (403 `no-access`, `access-expired`); a security-related
    document also the reader's SERMI approval (403 `sermi-approval-required`, with
    `document_title`). A superseded version stays readable and names `current_version`."""
    return await read_document(resources, user, document_id, version=version, language=language)


@router.get(
    "/technical-information/documents/{document_id}/versions",
    response_model=list[VersionSummary],
    responses=problem_responses(DocumentNotFound),
)
async def versions(
    document_id: DocumentIdPath, user: CurrentUser, resources: ResourcesDep
) -> list[VersionSummary]:
    """A document's readable versions, newest first, with what changed and what superseded
    each."""
    return await document_versions(resources, user, document_id)


@router.get(
    "/workshops/{workshop_id}/technical-information/reading-history",
    response_model=ReadingHistory,
)
async def reading_history(
    workshop_id: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INTEGER_MAX)] = 0,
) -> ReadingHistory:
    """The documents the workshop's people opened (who, which version, when), newest first."""
    return await workshop_reading_history(resources, user, workshop_id, limit=limit, offset=offset)


@router.get("/admin/technical-information/usage", response_model=list[DocumentUsage])
async def usage(
    admin: AdminUser,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DocumentUsage]:
    """Operators: views and reading workshops per document, most read first."""
    return await document_usage(resources, admin, limit=limit)


class SermiApprovalRequest(BaseModel):
    user_id: str = Field(min_length=1, max_length=64, description="The approved person")
    certificate_reference: str = Field(
        pattern=CERTIFICATE_REFERENCE_PATTERN,
        min_length=4,
        max_length=64,
        description="The reference of the person's SERMI certificate",
    )
    expires_at: MomentText = Field(description="When the approval ends (in the future)")


class SermiRevocation(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


@router.post(
    "/admin/sermi-approvals",
    response_model=SermiApprovalView,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(PersonNotFound, InvalidSermiApproval, WORKFLOW_UNAVAILABLE),
)
async def create_sermi_approval(
    body: SermiApprovalRequest, admin: AdminUser, resources: ResourcesDep
) -> SermiApprovalView:
    """Record a person's SERMI approval: from now until `expires_at` the person reads
    security-related documents. Its flow (`SermiApprovalWorkflow`) mails the person 30 days
    before the expiry and records the end at expiry."""
    return await record_sermi_approval(
        resources,
        admin,
        user_id=body.user_id,
        certificate_reference=body.certificate_reference,
        expires_at=body.expires_at,
    )


@router.get("/admin/sermi-approvals", response_model=list[SermiApprovalView])
async def sermi_approvals(
    admin: AdminUser,
    resources: ResourcesDep,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[SermiApprovalView]:
    """SERMI approvals, newest first (of one person with `user_id`)."""
    return await list_sermi_approvals(resources, admin, user_id=user_id)


@router.post(
    "/admin/sermi-approvals/{approval_id}/revocation",
    response_model=SermiApprovalView,
    responses=problem_responses(SermiApprovalNotFound),
)
async def revoke(
    approval_id: Annotated[str, Path(max_length=64)],
    body: SermiRevocation,
    admin: AdminUser,
    resources: ResourcesDep,
) -> SermiApprovalView:
    """End an approval now; revoking it again changes nothing."""
    return await revoke_sermi_approval(resources, admin, approval_id, reason=body.reason)


# --- publishing (administrators) ----------------------------------------------------------------


@router.post(
    "/admin/technical-information/documents",
    response_model=DocumentPublishingStatus,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(DocumentExists, InvalidDocument, WORKFLOW_UNAVAILABLE),
)
async def create_document_draft(
    body: DocumentDraft, admin: AdminUser, resources: ResourcesDep
) -> DocumentPublishingStatus:
    """Write a new document as a draft; its `DocumentPublishingWorkflow` takes it through
    review to publication."""
    return await draft_document(resources, admin, body)


@router.post(
    "/admin/technical-information/documents/{document_id}/versions",
    response_model=DocumentPublishingStatus,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(DocumentNotFound, InvalidDocument, WORKFLOW_UNAVAILABLE),
)
async def create_version_draft(
    document_id: DocumentIdPath, body: VersionDraft, admin: AdminUser, resources: ResourcesDep
) -> DocumentPublishingStatus:
    """Write a new version of a document as a draft (the current one stays until this one
    is published)."""
    return await draft_version(resources, admin, document_id, body)


class PublishingStep(BaseModel):
    note: str = Field(default="", max_length=500)


@router.post(
    "/admin/technical-information/documents/{document_id}/versions/{version}/{step}",
    response_model=DocumentPublishingStatus,
    responses=problem_responses(DocumentVersionNotFound, WrongVersionState, WORKFLOW_UNAVAILABLE),
)
async def publishing_step(
    document_id: DocumentIdPath,
    version: Annotated[int, Path(ge=1, le=INTEGER_MAX)],
    step: PublishingUpdate,
    body: PublishingStep,
    admin: AdminUser,
    resources: ResourcesDep,
) -> DocumentPublishingStatus:
    """Move a version on: `submit_for_review`, `send_back`, `publish` (a service bulletin or
    campaign mails the workshops that serviced an affected vehicle in the last 12 months),
    `withdraw`. A step out of order is 409 `wrong-document-version-state`."""
    return await move_document_version(resources, admin, document_id, version, step, body.note)
