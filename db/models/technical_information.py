"""Technical information: documents, where they apply, their versions and texts per language,
the reading record, and the people's SERMI approvals.

The full-text index (`tech_document_search`) is not a model: it is an FTS5 table on SQLite and
a tsvector table with a GIN index on PostgreSQL, made by migration 0011 and kept by
`db.document_search` (see `db.document_search.SEARCH_INDEX_TABLES`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class TechDocument(Base):
    """A document as the workshops know it (its id is printed on every version)."""

    __tablename__ = "tech_documents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(32), index=True)
    system_group: Mapped[str] = mapped_column(String(32), index=True)
    # Immobiliser, keys, anti-theft: readable only with the person's SERMI approval.
    security_related: Mapped[bool]
    # The technical action (KaSIO campaign id) a campaign document belongs to.
    action_id: Mapped[str | None] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime]


class TechDocumentApplicability(Base):
    """One place a document applies: a series, optionally a type code and a production range."""

    __tablename__ = "tech_document_applicability"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("tech_documents.id"), index=True)
    series: Mapped[str] = mapped_column(String(20))
    type_code: Mapped[str | None] = mapped_column(String(20))
    produced_from: Mapped[date | None] = mapped_column(Date)
    produced_until: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_tech_document_applicability_series_type", "series", "type_code"),)


class TechDocumentVersion(Base):
    """One version of a document; a superseded one stays readable and names its successor."""

    __tablename__ = "tech_document_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("tech_documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    change_note: Mapped[str] = mapped_column(String(500))
    published_at: Mapped[datetime | None]
    superseded_by_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("document_id", "version"),)


class TechDocumentText(Base):
    """A version's content in one language: what search finds and the document page shows."""

    __tablename__ = "tech_document_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("tech_document_versions.id"), index=True)
    language: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # Wiring diagrams: the drawing itself (SVG, checked when stored: no scripts, no links).
    svg: Mapped[str | None] = mapped_column(Text)
    # Tokens of the text's language and its document's series (`db.document_search.
    # search_tags`): on SQLite the index narrows a search by them before ranking.
    search_tags: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("version_id", "language"),)


class TechDocumentView(Base):
    """A person opened a document version: the reading history and the usage per document."""

    __tablename__ = "tech_document_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # None for portal staff, who read on nobody's behalf.
    workshop_id: Mapped[str | None] = mapped_column(ForeignKey("workshops.id"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("tech_documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(2))
    viewed_at: Mapped[datetime] = mapped_column(index=True)


class SermiApproval(Base):
    """A person's approval under SERMI to read security-related information, recorded by an
    administrator from the certificate; it ends at `expires_at` or when revoked."""

    __tablename__ = "sermi_approvals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    certificate_reference: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
