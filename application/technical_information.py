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
- administrators record a person's SERMI approval and revoke it (`application.sermi_approvals`),
  and publish documents (`application.document_publishing`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict

from application.authorization import ensure_administrator, ensure_workshop_access
from application.resources import AppResources
from db.access_repository import AccessRepository
from db.document_readings import DocumentReadingRepository
from db.document_search import SearchFilter, split_marked
from db.models import User
from db.sermi_approvals import SermiApprovalRepository
from db.service_history import ServiceHistoryRepository
from db.technical_information import DocumentContent, TechnicalInformationRepository
from domain.accounts import Role
from domain.catalogue import Service
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import Forbidden
from domain.technical_information import (
    SEARCH_PAGE_MAX,
    DocumentType,
    Language,
    SermiApprovalRequired,
    SystemGroup,
    search_terms,
)
from domain.vin import parse_vin


def _date_text(value: object) -> object:
    """A date is written as text (`2015-01-01`); a number is not read as a Unix time."""
    if isinstance(value, int | float):
        raise ValueError("a date is written as text, e.g. 2015-01-01")
    return value


DateText = Annotated[date, BeforeValidator(_date_text)]
MomentText = Annotated[AwareDatetime, BeforeValidator(_date_text)]
"""A moment with its offset, written as text (`2027-01-31T00:00:00Z`)."""


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
    # Read from the stored rows as they are, field by field.
    model_config = ConfigDict(from_attributes=True)

    series: str
    type_code: str | None
    produced_from: date | None
    produced_until: date | None


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    approval = await SermiApprovalRepository(resources.session_factory).active_sermi_approval(
        caller.id, at
    )
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
    await DocumentReadingRepository(resources.session_factory).record_view(
        caller.id,
        caller.workshop_id if caller.role != Role.ADMINISTRATOR else None,
        document_id,
        content.version.version,
        content.text.language,
        now,
    )
    return _reading(content)


def _reading(content: DocumentContent) -> DocumentReading:
    document, text = content.document, content.text
    return DocumentReading(
        document_id=document.id,
        doc_type=DocumentType(document.doc_type),
        system_group=SystemGroup(document.system_group),
        security_related=document.security_related,
        action_id=document.action_id,
        version=VersionSummary.model_validate(content.version),
        current_version=content.current_version,
        language=Language(text.language),
        languages=[Language(language) for language in content.languages],
        title=text.title,
        body=text.body,
        svg=text.svg,
        applicability=[ApplicabilityView.model_validate(row) for row in content.applicability],
    )


async def document_versions(
    resources: AppResources, caller: User, document_id: str
) -> list[VersionSummary]:
    """A document's readable versions, newest first (what changed, which replaced which)."""
    return [
        VersionSummary.model_validate(row)
        for row in await _repository(resources).versions(document_id)
    ]


async def workshop_reading_history(
    resources: AppResources, caller: User, workshop_id: str, *, limit: int = 50, offset: int = 0
) -> ReadingHistory:
    """The documents the workshop's people opened, newest first. Another workshop's id is
    404, like an unknown one."""
    ensure_workshop_access(caller, workshop_id)
    await AccessRepository(resources.session_factory).require_workshop(workshop_id)
    total, records = await DocumentReadingRepository(resources.session_factory).reading_history(
        workshop_id, limit, offset
    )
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
    ensure_administrator(caller)
    rows = await DocumentReadingRepository(resources.session_factory).usage(limit)
    return [DocumentUsage(document_id=d, views=v, workshops=w) for d, v, w in rows]
