"""Technical information (AIR): repair documents a workshop buys access to, found by VIN and
by words.

What a document is (its type, system group, where it applies, its versions and languages), who
may read it, and how a search query is read. Regulation (EU) 2018/858 Art. 61 lists what an
independent workshop must be able to get; security-related documents (immobiliser, keys,
anti-theft) are given only to people with a SERMI approval (Delegated Regulation 2021/1244).

This module is pure: no I/O, no imports from other project packages except `domain`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from statemachine import State, StateMachine

from domain.errors import DomainError, Forbidden, NotFound
from domain.languages import Language  # a document is written in the languages people read


class DocumentType(StrEnum):
    REPAIR_INSTRUCTION = "repair_instruction"
    WIRING_DIAGRAM = "wiring_diagram"
    SERVICE_BULLETIN = "service_bulletin"
    INSPECTION_SHEET = "inspection_sheet"
    FAULT_CODE = "fault_code"
    LABOUR_TIMES = "labour_times"
    SPECIAL_TOOL = "special_tool"
    TECHNICAL_CAMPAIGN = "technical_campaign"


DOCUMENT_TYPE_LABELS: dict[DocumentType, str] = {
    DocumentType.REPAIR_INSTRUCTION: "Repair instruction",
    DocumentType.WIRING_DIAGRAM: "Wiring diagram",
    DocumentType.SERVICE_BULLETIN: "Service information bulletin",
    DocumentType.INSPECTION_SHEET: "Inspection sheet",
    DocumentType.FAULT_CODE: "Fault code description",
    DocumentType.LABOUR_TIMES: "Labour times",
    DocumentType.SPECIAL_TOOL: "Special tool",
    DocumentType.TECHNICAL_CAMPAIGN: "Technical campaign",
}


class SystemGroup(StrEnum):
    """The main groups a repair manual is ordered by (the group number in brackets)."""

    ENGINE = "engine"  # 11
    FUEL = "fuel"  # 13, 16
    EXHAUST = "exhaust"  # 18
    TRANSMISSION = "transmission"  # 24, 26
    SUSPENSION = "suspension"  # 31, 33
    BRAKES = "brakes"  # 34
    STEERING = "steering"  # 32
    BODY = "body"  # 41, 51, 52
    ELECTRICAL = "electrical"  # 61
    LIGHTING = "lighting"  # 63
    CLIMATE = "climate"  # 64
    SECURITY = "security"  # 66: immobiliser, keys, alarm


SYSTEM_GROUP_LABELS: dict[SystemGroup, str] = {
    SystemGroup.ENGINE: "Engine",
    SystemGroup.FUEL: "Fuel supply",
    SystemGroup.EXHAUST: "Exhaust system",
    SystemGroup.TRANSMISSION: "Transmission and drive shafts",
    SystemGroup.SUSPENSION: "Axles and suspension",
    SystemGroup.BRAKES: "Brakes",
    SystemGroup.STEERING: "Steering",
    SystemGroup.BODY: "Body and seats",
    SystemGroup.ELECTRICAL: "General vehicle electrics",
    SystemGroup.LIGHTING: "Lighting",
    SystemGroup.CLIMATE: "Heating and air conditioning",
    SystemGroup.SECURITY: "Locking, keys and anti-theft",
}


class VersionState(StrEnum):
    """A document version's life: written, reviewed, published; later replaced by a newer
    version (superseded) or taken back (withdrawn). Superseded versions stay readable."""

    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


READABLE_STATES = frozenset({VersionState.PUBLISHED, VersionState.SUPERSEDED})
"""What a workshop may open; drafts, versions in review and withdrawn ones are not shown."""

DOCUMENT_ID_PATTERN = r"^[A-Z0-9][A-Z0-9-]{2,39}$"
DOCUMENT_ID_MAX_LENGTH = 40
SEARCH_QUERY_MAX_LENGTH = 200
SEARCH_MAX_TERMS = 8
SEARCH_PAGE_MAX = 100
CERTIFICATE_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9./-]{3,63}$"


@dataclass(frozen=True)
class Applicability:
    """Where a document applies: a series, optionally one type code, optionally a production
    date range (both ends included). A document has one or more of these."""

    series: str
    type_code: str | None = None
    produced_from: date | None = None
    produced_until: date | None = None

    def applies_to(self, series: str, type_code: str, production_date: date) -> bool:
        return (
            self.series == series
            and (self.type_code is None or self.type_code == type_code)
            and (self.produced_from is None or self.produced_from <= production_date)
            and (self.produced_until is None or production_date <= self.produced_until)
        )


# --- searching ------------------------------------------------------------------------------

# Words too common to select anything; dropped on both databases (PostgreSQL's language
# configurations drop them, SQLite FTS5 would require them), so both answer alike.
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "aan",
        "bij",
        "de",
        "een",
        "en",
        "het",
        "in",
        "is",
        "met",
        "of",
        "op",
        "te",
        "van",
        "voor",
        "zijn",
    ]
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class InvalidSearch(DomainError):
    code = "invalid-search"
    title = "The search is not valid"


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, without stop words, at most `SEARCH_MAX_TERMS`.

    Only letters and digits make words, so nothing of the database's own query syntax (FTS5
    operators, tsquery operators) reaches the database from a person's query.
    """
    if len(query) > SEARCH_QUERY_MAX_LENGTH:
        raise InvalidSearch(f"a search has at most {SEARCH_QUERY_MAX_LENGTH} characters", field="q")
    words = [word.lower() for word in _WORD.findall(query)]
    terms = [word for word in words if word not in _STOP_WORDS]
    return list(dict.fromkeys(terms))[:SEARCH_MAX_TERMS]


# --- who may read -------------------------------------------------------------------------------


class DocumentNotFound(NotFound):
    code = "document-not-found"
    title = "No such document"


class DocumentVersionNotFound(NotFound):
    code = "document-version-not-found"
    title = "No such version of the document"


class SermiApprovalRequired(Forbidden):
    """A security-related document needs the reading person's own SERMI approval."""

    code = "sermi-approval-required"
    title = "This document needs a SERMI approval"


class SermiApprovalNotFound(NotFound):
    code = "sermi-approval-not-found"
    title = "No such SERMI approval"


class InvalidSermiApproval(DomainError):
    code = "invalid-sermi-approval"
    title = "The SERMI approval is not valid"


def check_sermi_expiry(expires_at: datetime, now: datetime) -> datetime:
    if expires_at <= now:
        raise InvalidSermiApproval("a SERMI approval must expire in the future", field="expires_at")
    return expires_at


SERMI_EXPIRY_NOTICE = timedelta(days=30)
"""The approved person is mailed this long before the approval expires."""


def sermi_notice_at(expires_at: datetime) -> datetime:
    return expires_at - SERMI_EXPIRY_NOTICE


class SermiApprovalMachine(StateMachine):
    """active → expiring (the person was told) → expired; revoked by an administrator."""

    active = State(initial=True)
    expiring = State()
    expired = State(final=True)
    revoked = State(final=True)

    announce_expiry = active.to(expiring)
    expire = active.to(expired) | expiring.to(expired)
    revoke = active.to(revoked) | expiring.to(revoked)


SermiApprovalState = Literal["active", "expiring", "expired", "revoked"]


# --- publishing --------------------------------------------------------------------------------


class DocumentVersionMachine(StateMachine):
    """draft → review → published → superseded | withdrawn; a review may send it back."""

    draft = State(initial=True)
    review = State()
    published = State()
    superseded = State(final=True)
    withdrawn = State(final=True)

    submit_for_review = draft.to(review)
    send_back = review.to(draft)
    publish = review.to(published)
    supersede = published.to(superseded)
    withdraw = draft.to(withdrawn) | review.to(withdrawn) | published.to(withdrawn)


DocumentVersionState = Literal["draft", "review", "published", "superseded", "withdrawn"]

NOTIFYING_TYPES = frozenset({DocumentType.SERVICE_BULLETIN, DocumentType.TECHNICAL_CAMPAIGN})
"""Publishing one of these tells the workshops that serviced an affected vehicle."""
AFFECTED_SERVICE_WINDOW = timedelta(days=365)
"""How far back a workshop's service of an affected vehicle counts (12 months)."""


class WrongVersionState(DomainError):
    code = "wrong-document-version-state"
    title = "The document version is not in a state that allows this"
    kind = "conflict"


# --- what a document is made of ---------------------------------------------------------------


@dataclass(frozen=True)
class DocumentText:
    """A version's content in one language."""

    language: Language
    title: str
    body: str
    svg: str | None = None


@dataclass(frozen=True)
class DocumentSpec:
    """A document with its first version, as an author (or the demo corpus) writes it."""

    document_id: str
    doc_type: DocumentType
    system_group: SystemGroup
    applicability: tuple[Applicability, ...]
    texts: tuple[DocumentText, ...]
    security_related: bool = False
    action_id: str | None = None
    change_note: str = "First issue"


_SVG_FORBIDDEN = re.compile(
    r"<\s*script|\bon[a-z]+\s*=|javascript:|<\s*foreignObject|href\s*=", re.I
)


class InvalidDocument(DomainError):
    code = "invalid-document"
    title = "The document is not valid"


def check_svg(svg: str) -> str:
    """A wiring diagram is shown inline on the document page: it may draw, never run or link."""
    if not svg.lstrip().startswith("<svg") or _SVG_FORBIDDEN.search(svg):
        raise InvalidDocument("a diagram is an SVG drawing without scripts or links", field="svg")
    return svg
