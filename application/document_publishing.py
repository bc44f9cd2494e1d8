"""Publishing technical documents: administrators write a new document or a new version as a
draft, and move it through its publishing flow (review, send back, publish, withdraw)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, Field, StrictBool
from temporalio.common import WorkflowIDConflictPolicy

from application.authorization import ensure_administrator
from application.resources import AppResources
from application.technical_information import DateText
from application.workflow_calls import describe_or_absent, execute_update
from contracts.technical_information import (
    DOCUMENT_PUBLISHING_WORKFLOW,
    PUBLISHING_STATUS_QUERY,
    DocumentPublishingInput,
    DocumentPublishingStatus,
    PublishingUpdate,
    ReviewInput,
    document_publishing_workflow_id,
)
from db.models import User
from db.technical_information import TechnicalInformationRepository
from domain.errors import Conflict
from domain.technical_information import (
    DOCUMENT_ID_MAX_LENGTH,
    DOCUMENT_ID_PATTERN,
    Applicability,
    DocumentNotFound,
    DocumentSpec,
    DocumentText,
    DocumentType,
    DocumentVersionNotFound,
    InvalidDocument,
    Language,
    SystemGroup,
    VersionState,
)


class DocumentExists(Conflict):
    code = "document-exists"
    title = "A document with this id exists"


class DraftText(BaseModel):
    language: Language
    title: str = Field(min_length=3, max_length=300)
    body: str = Field(min_length=1, max_length=100_000)
    svg: str | None = Field(default=None, max_length=1_000_000)


class DraftApplicability(BaseModel):
    series: str = Field(min_length=1, max_length=20)
    type_code: str | None = Field(default=None, min_length=1, max_length=20)
    produced_from: DateText | None = None
    produced_until: DateText | None = None


class DocumentDraft(BaseModel):
    """A new document, written as its first version (a draft until published)."""

    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN, max_length=DOCUMENT_ID_MAX_LENGTH)
    doc_type: DocumentType
    system_group: SystemGroup
    security_related: StrictBool = False
    action_id: str | None = Field(default=None, min_length=1, max_length=20)
    applicability: list[DraftApplicability] = Field(min_length=1, max_length=50)
    texts: list[DraftText] = Field(min_length=1, max_length=2)
    change_note: str = Field(default="First issue", min_length=1, max_length=500)


class VersionDraft(BaseModel):
    """A new version of a document (a draft until published)."""

    texts: list[DraftText] = Field(min_length=1, max_length=2)
    change_note: str = Field(min_length=1, max_length=500)


def _texts(texts: Sequence[DraftText]) -> tuple[DocumentText, ...]:
    if len({text.language for text in texts}) != len(texts):
        raise InvalidDocument("one text per language", field="texts")
    return tuple(DocumentText(t.language, t.title, t.body, t.svg) for t in texts)


async def _start_publishing(
    resources: AppResources, document_id: str, version: int
) -> DocumentPublishingStatus:
    handle = await resources.temporal.start_workflow(
        DOCUMENT_PUBLISHING_WORKFLOW,
        DocumentPublishingInput(document_id=document_id, version=version),
        id=document_publishing_workflow_id(document_id, version),
        task_queue=resources.settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    status: DocumentPublishingStatus = await handle.query(
        PUBLISHING_STATUS_QUERY, result_type=DocumentPublishingStatus
    )
    return status


async def draft_document(
    resources: AppResources, caller: User, draft: DocumentDraft
) -> DocumentPublishingStatus:
    """Administrators: a new document as a draft, and its publishing flow."""
    ensure_administrator(caller)
    repository = TechnicalInformationRepository(resources.session_factory)
    try:
        await repository.document(draft.document_id)
    except DocumentNotFound:
        pass
    else:
        raise DocumentExists(f"document {draft.document_id} exists", field="document_id")
    spec = DocumentSpec(
        document_id=draft.document_id,
        doc_type=draft.doc_type,
        system_group=draft.system_group,
        applicability=tuple(
            Applicability(a.series, a.type_code, a.produced_from, a.produced_until)
            for a in draft.applicability
        ),
        texts=_texts(draft.texts),
        security_related=draft.security_related,
        action_id=draft.action_id,
        change_note=draft.change_note,
    )
    await repository.add_documents([spec], datetime.now(UTC), VersionState.DRAFT)
    return await _start_publishing(resources, draft.document_id, 1)


async def draft_version(
    resources: AppResources, caller: User, document_id: str, draft: VersionDraft
) -> DocumentPublishingStatus:
    """Administrators: a new version of a document as a draft, and its publishing flow."""
    ensure_administrator(caller)
    version = await TechnicalInformationRepository(resources.session_factory).add_version(
        document_id, _texts(draft.texts), draft.change_note, datetime.now(UTC)
    )
    return await _start_publishing(resources, document_id, version)


async def move_document_version(
    resources: AppResources,
    caller: User,
    document_id: str,
    version: int,
    step: PublishingUpdate,
    note: str = "",
) -> DocumentPublishingStatus:
    """Administrators: a publishing step (review, send back, publish, withdraw) of a version;
    one out of order is 409 `wrong-document-version-state`, a version without a publishing
    flow 404 `document-version-not-found`."""
    ensure_administrator(caller)
    workflow_id = document_publishing_workflow_id(document_id, version)
    await describe_or_absent(
        resources.temporal,
        workflow_id,
        DocumentVersionNotFound(
            f"document {document_id} has no version {version} being published", field="version"
        ),
    )
    return await execute_update(
        resources.temporal.get_workflow_handle(workflow_id),
        step,
        ReviewInput(reviewer=caller.id, note=note),
        DocumentPublishingStatus,
    )
