"""Technical information: the use cases behind `/technical-information/...`, the SERMI
approvals of `/admin/sermi-approvals` and the console's "Technical information" pages.

Who may do what:
- searching (titles, by VIN and by words) is open to every signed-in person, so a workshop
  sees what it would buy; the snippets of the text come only with a `technical_information`
  ticket, and never for a security-related document the person may not read;
- reading a document needs the workshop's ticket (403 `no-access` / `access-expired`); a
  security-related one also the person's own SERMI approval (403 `sermi-approval-required`,
  which names the document's title and nothing more). Portal administrators read everything,
  on nobody's behalf;
- every reading is recorded (person, workshop, document, version, language, time); a workshop
  sees its own reading history, operators the usage per document;
- administrators record a person's SERMI approval (certificate reference, expiry) and revoke it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, StrictBool
from sqlalchemy import select
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from application.authorization import ensure_workshop_access
from application.resources import AppResources
from application.workflow_calls import describe_or_absent, execute_update
from contracts.search_attributes import workshop_scope
from contracts.technical_information import (
    DOCUMENT_PUBLISHING_WORKFLOW,
    PUBLISHING_STATUS_QUERY,
    SERMI_APPROVAL_WORKFLOW,
    DocumentPublishingInput,
    DocumentPublishingStatus,
    PublishingUpdate,
    ReviewInput,
    SermiApprovalInput,
    SermiSignal,
    document_publishing_workflow_id,
    sermi_approval_workflow_id,
)
from contracts.technical_information import SermiRevocation as SermiRevocationSignal
from db.access_repository import AccessRepository
from db.document_search import SearchFilter, split_marked
from db.engine import reading
from db.models import SermiApproval, TechDocumentVersion, User
from db.service_history import ServiceHistoryRepository
from db.technical_information import DocumentContent, TechnicalInformationRepository
from domain.accounts import Role
from domain.catalogue import Service
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import Conflict, Forbidden, NotFound
from domain.languages import language_or_default
from domain.technical_information import (
    DOCUMENT_ID_MAX_LENGTH,
    DOCUMENT_ID_PATTERN,
    SEARCH_PAGE_MAX,
    Applicability,
    DocumentNotFound,
    DocumentSpec,
    DocumentText,
    DocumentType,
    DocumentVersionNotFound,
    InvalidDocument,
    InvalidSermiApproval,
    Language,
    SermiApprovalRequired,
    SystemGroup,
    VersionState,
    check_sermi_expiry,
    search_terms,
)
from domain.vin import parse_vin


class PersonNotFound(NotFound):
    code = "person-not-found"
    title = "No such person"


class DocumentExists(Conflict):
    code = "document-exists"
    title = "A document with this id exists"


# --- answers --------------------------------------------------------------------------------


class SnippetPart(BaseModel):
    """A piece of a snippet; `highlighted` pieces are the words that matched."""

    text: str
    highlighted: bool


class VehicleSelection(BaseModel):
    """The vehicle a search by VIN was narrowed to."""

    vin: str
    brand: str
    model: str
    series: str
    type_code: str
    production_date: date


class DocumentHit(BaseModel):
    document_id: str
    doc_type: DocumentType
    system_group: SystemGroup
    security_related: bool
    version: int
    language: Language
    title: str
    # None without a ticket, and for a security-related document the person may not read.
    snippet: list[SnippetPart] | None
    # Higher is better; comparable within one answer only. None when no words were given.
    rank: float | None
    action_id: str | None


class DocumentSearchResult(BaseModel):
    total: int
    results: list[DocumentHit]
    vehicle: VehicleSelection | None
    # Whether the caller may open the documents (a ticket, or an administrator).
    may_read: bool


class ApplicabilityView(BaseModel):
    series: str
    type_code: str | None
    produced_from: date | None
    produced_until: date | None


class VersionSummary(BaseModel):
    version: int
    state: str
    change_note: str
    published_at: datetime | None
    superseded_by_version: int | None


class DocumentReading(BaseModel):
    """A version of a document in one language, as its reader sees it."""

    document_id: str
    doc_type: DocumentType
    system_group: SystemGroup
    security_related: bool
    action_id: str | None
    version: VersionSummary
    # The version a reader should use now (None when the document was withdrawn).
    current_version: int | None
    language: Language
    languages: list[Language]
    title: str
    body: str
    svg: str | None
    applicability: list[ApplicabilityView]


class ReadingRecordView(BaseModel):
    document_id: str
    version: int
    language: Language
    title: str
    user_id: str
    person: str
    viewed_at: datetime


class ReadingHistory(BaseModel):
    total: int
    views: list[ReadingRecordView]


class DocumentUsage(BaseModel):
    document_id: str
    views: int
    workshops: int


class SermiApprovalView(BaseModel):
    approval_id: str
    user_id: str
    certificate_reference: str
    expires_at: datetime
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    active: bool


# --- use cases ------------------------------------------------------------------------------


def _repository(resources: AppResources) -> TechnicalInformationRepository:
    return TechnicalInformationRepository(resources.session_factory)


async def _has_ticket(resources: AppResources, caller: User, at: datetime) -> bool:
    if caller.role == Role.ADMINISTRATOR:
        return True
    if caller.workshop_id is None:
        return False
    try:
        await AccessRepository(resources.session_factory).check_entitlement(
            caller.workshop_id, Service.TECHNICAL_INFORMATION, at
        )
    except (NoAccess, AccessExpired):
        return False
    return True


async def _may_read_security(resources: AppResources, caller: User, at: datetime) -> bool:
    if caller.role == Role.ADMINISTRATOR:
        return True
    approval = await _repository(resources).active_sermi_approval(caller.id, at)
    return approval is not None


async def search_documents(
    resources: AppResources,
    caller: User,
    *,
    query: str = "",
    vin: str | None = None,
    doc_types: Sequence[DocumentType] = (),
    system_groups: Sequence[SystemGroup] = (),
    language: Language = Language.EN,
    limit: int = 20,
    offset: int = 0,
) -> DocumentSearchResult:
    """Published documents by words (ranked, with snippets for ticket holders), by a vehicle's
    VIN (what applies to its type code, series and production date), and by type and system
    group. An unknown VIN is 404 `vehicle-not-found`, an invalid one 422 `invalid-vin`."""
    now = datetime.now(UTC)
    terms = search_terms(query)
    vehicle: VehicleSelection | None = None
    where = SearchFilter(
        language=language.value,
        doc_types=[t.value for t in doc_types],
        system_groups=[g.value for g in system_groups],
    )
    if vin is not None:
        page = await ServiceHistoryRepository(resources.session_factory).vehicle_page(
            parse_vin(vin)
        )
        car = page.vehicle
        vehicle = VehicleSelection.model_validate(car, from_attributes=True)
        where = dataclasses.replace(
            where,
            series=car.series,
            type_code=car.type_code,
            production_date=car.production_date,
        )
    found = await _repository(resources).search(
        terms, where, min(max(limit, 1), SEARCH_PAGE_MAX), max(offset, 0)
    )
    may_read = await _has_ticket(resources, caller, now)
    may_read_security = may_read and await _may_read_security(resources, caller, now)
    results = [
        DocumentHit(
            document_id=hit.document.id,
            doc_type=DocumentType(hit.document.doc_type),
            system_group=SystemGroup(hit.document.system_group),
            security_related=hit.document.security_related,
            version=hit.version,
            language=Language(hit.language),
            title=hit.title,
            snippet=[SnippetPart(text=t, highlighted=m) for t, m in split_marked(hit.snippet)]
            if hit.snippet is not None
            and may_read
            and (may_read_security or not hit.document.security_related)
            else None,
            rank=hit.rank,
            action_id=hit.document.action_id,
        )
        for hit in found.results
    ]
    return DocumentSearchResult(
        total=found.total, results=results, vehicle=vehicle, may_read=may_read
    )


async def read_document(
    resources: AppResources,
    caller: User,
    document_id: str,
    *,
    version: int | None = None,
    language: Language = Language.EN,
) -> DocumentReading:
    """A readable version of a document (the current one by default), recorded in the
    workshop's reading history. Refusals: `document-not-found`, `document-version-not-found`,
    `no-access` / `access-expired` (the workshop's ticket), `sermi-approval-required`."""
    now = datetime.now(UTC)
    repository = _repository(resources)
    document, title = await repository.document_summary(document_id)
    if caller.role != Role.ADMINISTRATOR:
        if caller.workshop_id is None:
            raise Forbidden("technical information is read on behalf of a workshop")
        await AccessRepository(resources.session_factory).check_entitlement(
            caller.workshop_id, Service.TECHNICAL_INFORMATION, now
        )
        if document.security_related and not await _may_read_security(resources, caller, now):
            raise SermiApprovalRequired(
                "this document is security-related: it needs the reader's own SERMI "
                "approval, recorded by a portal administrator",
                document_id=document.id,
                document_title=title,
            )
    content = await repository.content(document_id, version, language)
    await repository.record_view(
        caller.id,
        caller.workshop_id if caller.role != Role.ADMINISTRATOR else None,
        document_id,
        content.version.version,
        content.text.language,
        now,
    )
    return _reading(content)


def _version_summary(row: TechDocumentVersion) -> VersionSummary:
    return VersionSummary(
        version=row.version,
        state=row.state,
        change_note=row.change_note,
        published_at=row.published_at,
        superseded_by_version=row.superseded_by_version,
    )


def _reading(content: DocumentContent) -> DocumentReading:
    document, text = content.document, content.text
    return DocumentReading(
        document_id=document.id,
        doc_type=DocumentType(document.doc_type),
        system_group=SystemGroup(document.system_group),
        security_related=document.security_related,
        action_id=document.action_id,
        version=_version_summary(content.version),
        current_version=content.current_version,
        language=Language(text.language),
        languages=[Language(language) for language in content.languages],
        title=text.title,
        body=text.body,
        svg=text.svg,
        applicability=[
            ApplicabilityView(
                series=row.series,
                type_code=row.type_code,
                produced_from=row.produced_from,
                produced_until=row.produced_until,
            )
            for row in content.applicability
        ],
    )


async def document_versions(
    resources: AppResources, caller: User, document_id: str
) -> list[VersionSummary]:
    """A document's readable versions, newest first (what changed, which replaced which)."""
    return [_version_summary(row) for row in await _repository(resources).versions(document_id)]


async def workshop_reading_history(
    resources: AppResources, caller: User, workshop_id: str, *, limit: int = 50, offset: int = 0
) -> ReadingHistory:
    """The documents the workshop's people opened, newest first. Another workshop's id is
    404, like an unknown one."""
    ensure_workshop_access(caller, workshop_id)
    await AccessRepository(resources.session_factory).require_workshop(workshop_id)
    total, records = await _repository(resources).reading_history(workshop_id, limit, offset)
    return ReadingHistory(
        total=total,
        views=[
            ReadingRecordView(
                document_id=record.view.document_id,
                version=record.view.version,
                language=Language(record.view.language),
                title=record.title,
                user_id=record.view.user_id,
                person=record.person,
                viewed_at=record.view.viewed_at,
            )
            for record in records
        ],
    )


async def document_usage(
    resources: AppResources, caller: User, *, limit: int = 100
) -> list[DocumentUsage]:
    """Operators: how often each document was read and by how many workshops."""
    _ensure_administrator(caller)
    rows = await _repository(resources).usage(limit)
    return [DocumentUsage(document_id=d, views=v, workshops=w) for d, v, w in rows]


# --- SERMI approvals ------------------------------------------------------------------------


def _ensure_administrator(caller: User) -> None:
    if caller.role != Role.ADMINISTRATOR:
        raise Forbidden("only portal administrators may do this")


def sermi_view(row: SermiApproval, at: datetime | None = None) -> SermiApprovalView:
    moment = at or datetime.now(UTC)
    return SermiApprovalView(
        approval_id=row.id,
        user_id=row.user_id,
        certificate_reference=row.certificate_reference,
        expires_at=row.expires_at,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        active=row.revoked_at is None and row.expires_at > moment,
    )


async def _person(resources: AppResources, user_id: str) -> User:
    async with reading(resources.session_factory) as session:
        person = await session.scalar(select(User).where(User.id == user_id))
    if person is None:
        raise PersonNotFound(f"no person {user_id}", field="user_id")
    return person


async def record_sermi_approval(
    resources: AppResources,
    caller: User,
    *,
    user_id: str,
    certificate_reference: str,
    expires_at: datetime,
) -> SermiApprovalView:
    """An administrator records a person's SERMI approval from its certificate. The person
    reads security-related documents until it expires or is revoked."""
    _ensure_administrator(caller)
    now = datetime.now(UTC)
    person = await _person(resources, user_id)
    if person.role == Role.ADMINISTRATOR:
        raise InvalidSermiApproval(
            "SERMI approvals are for workshop staff; administrators read everything",
            field="user_id",
        )
    check_sermi_expiry(expires_at, now)
    row = await _repository(resources).record_sermi_approval(
        user_id, certificate_reference, expires_at, caller.id, now
    )
    # The approval's clock: the notice 30 days before, the recorded end at expiry.
    await resources.temporal.start_workflow(
        SERMI_APPROVAL_WORKFLOW,
        SermiApprovalInput(
            approval_id=row.id,
            user_id=user_id,
            workshop_id=person.workshop_id,
            recipient=person.email,
            certificate_reference=certificate_reference,
            expires_at=expires_at,
            language=language_or_default(person.language),
        ),
        id=sermi_approval_workflow_id(row.id),
        task_queue=resources.settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # An approval belongs to a person; a person of a workshop is found under it as well.
        search_attributes=workshop_scope(person.workshop_id) if person.workshop_id else None,
    )
    return sermi_view(row, now)


async def list_sermi_approvals(
    resources: AppResources, caller: User, *, user_id: str | None = None
) -> list[SermiApprovalView]:
    _ensure_administrator(caller)
    now = datetime.now(UTC)
    return [sermi_view(row, now) for row in await _repository(resources).sermi_approvals(user_id)]


async def revoke_sermi_approval(
    resources: AppResources, caller: User, approval_id: str, *, reason: str
) -> SermiApprovalView:
    """Ends an approval now (a revoked one stays revoked with its first reason)."""
    _ensure_administrator(caller)
    repository = _repository(resources)
    await repository.sermi_approval(approval_id)
    await repository.revoke_sermi_approval(approval_id, reason, datetime.now(UTC))
    # The record ends access at once; the approval's flow stops its clock (an approval that
    # expired already has no running flow to tell).
    with contextlib.suppress(RPCError):
        await resources.temporal.get_workflow_handle(
            sermi_approval_workflow_id(approval_id)
        ).signal(SermiSignal.REVOKED, SermiRevocationSignal(reason=reason))
    return sermi_view(await repository.sermi_approval(approval_id))


# --- publishing ---------------------------------------------------------------------------------


class DraftText(BaseModel):
    language: Language
    title: str = Field(min_length=3, max_length=300)
    body: str = Field(min_length=1, max_length=100_000)
    svg: str | None = Field(default=None, max_length=1_000_000)


def _date_text(value: object) -> object:
    """A date is written as text (`2015-01-01`); a number is not read as a Unix time."""
    if isinstance(value, int | float):
        raise ValueError("a date is written as text, e.g. 2015-01-01")
    return value


DateText = Annotated[date, BeforeValidator(_date_text)]
MomentText = Annotated[AwareDatetime, BeforeValidator(_date_text)]
"""A moment with its offset, written as text (`2027-01-31T00:00:00Z`)."""


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
    _ensure_administrator(caller)
    repository = _repository(resources)
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
    _ensure_administrator(caller)
    version = await _repository(resources).add_version(
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
    _ensure_administrator(caller)
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
