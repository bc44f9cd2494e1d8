"""Reading and writing technical information: documents with their versions and texts, the
full-text search (`db.document_search`); the reading record is `db.document_readings`, SERMI
approvals `db.sermi_approvals`.

The API, the console, the portal activities and the corpus command share this one
implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.document_search import DocumentSearch, SearchFilter, document_search_for, search_tags
from db.engine import reading
from db.models import (
    TechDocument,
    TechDocumentApplicability,
    TechDocumentText,
    TechDocumentVersion,
)
from db.rows import get_or_raise
from domain.technical_information import (
    READABLE_STATES,
    Applicability,
    DocumentNotFound,
    DocumentSpec,
    DocumentText,
    DocumentVersionNotFound,
    Language,
    VersionState,
    check_svg,
)


@dataclass(frozen=True)
class FoundDocument:
    """One search result: the document, its current version's title in the asked language,
    and the snippet around the matched words (marked, see `db.document_search`)."""

    document: TechDocument
    version: int
    language: str
    title: str
    snippet: str | None
    rank: float | None


@dataclass(frozen=True)
class SearchPage:
    total: int
    results: list[FoundDocument]


@dataclass(frozen=True)
class DocumentContent:
    """A version of a document in one language, with where it applies and what else exists."""

    document: TechDocument
    version: TechDocumentVersion
    text: TechDocumentText
    languages: list[str]
    applicability: list[TechDocumentApplicability]
    current_version: int | None


class TechnicalInformationRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @functools.cached_property
    def _search(self) -> DocumentSearch:
        # Chosen on first use: a worker builds its repositories before it opens the database.
        return document_search_for(self._session_factory.kw["bind"].dialect.name)

    # --- writing documents -----------------------------------------------------------------

    async def add_documents(
        self,
        specs: Sequence[DocumentSpec],
        now: datetime,
        state: VersionState = VersionState.PUBLISHED,
    ) -> None:
        """Store new documents, each with its first version in `state`, and index them."""
        async with self._session_factory() as session, session.begin():
            for spec in specs:
                session.add(
                    TechDocument(
                        id=spec.document_id,
                        doc_type=spec.doc_type.value,
                        system_group=spec.system_group.value,
                        security_related=spec.security_related,
                        action_id=spec.action_id,
                        created_at=now,
                    )
                )
                session.add_all(_applicability_rows(spec.document_id, spec.applicability))
            await session.flush()
            text_ids: list[int] = []
            for spec in specs:
                text_ids += await self._add_version(
                    session,
                    spec.document_id,
                    1,
                    spec,
                    now,
                    state,
                    [a.series for a in spec.applicability],
                    index=False,
                )
            await self._search.index_texts(session, text_ids)

    async def add_version(
        self,
        document_id: str,
        texts: Sequence[DocumentText],
        change_note: str,
        now: datetime,
        state: VersionState = VersionState.DRAFT,
    ) -> int:
        """A new version (the next number) of an existing document; its number."""
        async with self._session_factory() as session, session.begin():
            await self._document(session, document_id)
            latest = await session.scalar(
                select(func.max(TechDocumentVersion.version)).where(
                    TechDocumentVersion.document_id == document_id
                )
            )
            number = (latest or 0) + 1
            series = await session.scalars(
                select(TechDocumentApplicability.series).where(
                    TechDocumentApplicability.document_id == document_id
                )
            )
            await self._add_version(
                session, document_id, number, (tuple(texts), change_note), now, state, list(series)
            )
            if state == VersionState.PUBLISHED:
                await self._supersede_others(session, document_id, number)
            return number

    async def set_version_state(
        self, document_id: str, version: int, state: VersionState, now: datetime
    ) -> int | None:
        """Move a version on (the publishing flow decides which moves are allowed); publishing
        one supersedes the version published before it, whose number is returned. Setting the
        state a version has already changes nothing (an activity's retry)."""
        async with self._session_factory() as session, session.begin():
            row = await self._version(session, document_id, version)
            superseded = None
            if state == VersionState.PUBLISHED:
                superseded = await session.scalar(
                    select(TechDocumentVersion.version).where(
                        TechDocumentVersion.document_id == document_id,
                        TechDocumentVersion.version != version,
                        (TechDocumentVersion.state == VersionState.PUBLISHED.value)
                        | (TechDocumentVersion.superseded_by_version == version),
                    )
                )
                if row.state != state.value:
                    row.published_at = now
                await self._supersede_others(session, document_id, version)
            row.state = state.value
            return superseded

    async def _add_version(
        self,
        session: AsyncSession,
        document_id: str,
        number: int,
        source: DocumentSpec | tuple[tuple[DocumentText, ...], str],
        now: datetime,
        state: VersionState,
        series: Sequence[str],
        index: bool = True,
    ) -> list[int]:
        texts, note = (
            (source.texts, source.change_note) if isinstance(source, DocumentSpec) else source
        )
        version = TechDocumentVersion(
            document_id=document_id,
            version=number,
            state=state.value,
            change_note=note,
            published_at=now if state == VersionState.PUBLISHED else None,
            superseded_by_version=None,
            created_at=now,
        )
        session.add(version)
        await session.flush()
        rows = [
            TechDocumentText(
                version_id=version.id,
                language=text.language.value,
                title=text.title,
                body=text.body,
                svg=check_svg(text.svg) if text.svg is not None else None,
                search_tags=search_tags(text.language.value, series),
            )
            for text in texts
        ]
        session.add_all(rows)
        await session.flush()
        if index:
            await self._search.index_texts(session, [row.id for row in rows])
        return [row.id for row in rows]

    async def _supersede_others(self, session: AsyncSession, document_id: str, by: int) -> None:
        await session.execute(
            update(TechDocumentVersion)
            .where(
                TechDocumentVersion.document_id == document_id,
                TechDocumentVersion.state == VersionState.PUBLISHED.value,
                TechDocumentVersion.version != by,
            )
            .values(state=VersionState.SUPERSEDED.value, superseded_by_version=by)
        )

    # --- reading documents -----------------------------------------------------------------

    async def search(
        self,
        terms: Sequence[str],
        where: SearchFilter,
        limit: int,
        offset: int,
    ) -> SearchPage:
        """Published documents holding every term (ranked, with snippets); without terms,
        every published document the filters let through, ordered by id."""
        async with reading(self._session_factory) as session:
            if terms:
                hits, total = await self._search.search(session, terms, where, limit, offset)
                rows = await self._texts_with_documents(session, [hit.text_id for hit in hits])
                results = []
                for hit in hits:
                    text, version, document = rows[hit.text_id]
                    results.append(
                        FoundDocument(
                            document, version, text.language, text.title, hit.snippet, hit.rank
                        )
                    )
                return SearchPage(total, results)
            return await self._list(session, where, limit, offset)

    async def _texts_with_documents(
        self, session: AsyncSession, text_ids: list[int]
    ) -> dict[int, tuple[TechDocumentText, int, TechDocument]]:
        if not text_ids:
            return {}
        rows = await session.execute(
            select(TechDocumentText, TechDocumentVersion.version, TechDocument)
            .join(TechDocumentVersion, TechDocumentVersion.id == TechDocumentText.version_id)
            .join(TechDocument, TechDocument.id == TechDocumentVersion.document_id)
            .where(TechDocumentText.id.in_(text_ids))
        )
        return {text.id: (text, version, document) for text, version, document in rows}

    async def _list(
        self, session: AsyncSession, where: SearchFilter, limit: int, offset: int
    ) -> SearchPage:
        conditions = [
            TechDocumentVersion.state == VersionState.PUBLISHED.value,
            TechDocumentText.language == where.language,
        ]
        if where.doc_types:
            conditions.append(TechDocument.doc_type.in_(where.doc_types))
        if where.system_groups:
            conditions.append(TechDocument.system_group.in_(where.system_groups))
        if where.series is not None:
            a = TechDocumentApplicability
            # Not correlated: the vehicle's documents are selected once (db.document_search).
            conditions.append(
                TechDocument.id.in_(
                    select(a.document_id).where(
                        a.series == where.series,
                        (a.type_code.is_(None)) | (a.type_code == where.type_code),
                        (a.produced_from.is_(None)) | (a.produced_from <= where.production_date),
                        (a.produced_until.is_(None)) | (a.produced_until >= where.production_date),
                    )
                )
            )
        joined = (
            select(func.count())
            .select_from(TechDocumentText)
            .join(TechDocumentVersion, TechDocumentVersion.id == TechDocumentText.version_id)
            .join(TechDocument, TechDocument.id == TechDocumentVersion.document_id)
            .where(*conditions)
        )
        total = await session.scalar(joined)
        # The titles only: a list never needs the bodies (or the diagrams).
        rows = await session.execute(
            joined.with_only_columns(
                TechDocumentText.language,
                TechDocumentText.title,
                TechDocumentVersion.version,
                TechDocument,
            )
            .order_by(TechDocument.id)
            .limit(limit)
            .offset(offset)
        )
        return SearchPage(
            int(total or 0),
            [
                FoundDocument(document, version, language, title, None, None)
                for language, title, version, document in rows
            ],
        )

    async def document_summary(self, document_id: str) -> tuple[TechDocument, str]:
        """The document and its current title in English (for refusals that show the title)."""
        async with reading(self._session_factory) as session:
            document = await self._document(session, document_id)
            title = await session.scalar(
                select(TechDocumentText.title)
                .join(TechDocumentVersion, TechDocumentVersion.id == TechDocumentText.version_id)
                .where(
                    TechDocumentVersion.document_id == document_id,
                    TechDocumentVersion.state.in_([s.value for s in READABLE_STATES]),
                )
                .order_by(TechDocumentVersion.version.desc(), TechDocumentText.language)
                .limit(1)
            )
            if title is None:
                raise _no_document(document_id)
            return document, title

    async def titles(self, document_id: str, version: int | None = None) -> dict[str, str]:
        """A version's title per language (default: the current readable version)."""
        async with reading(self._session_factory) as session:
            if version is None:
                version_row = await self._current_version(session, document_id)
            else:
                version_row = await self._version(session, document_id, version)
            row_id = version_row.id
            rows = await session.execute(
                select(TechDocumentText.language, TechDocumentText.title).where(
                    TechDocumentText.version_id == row_id
                )
            )
            return {language: title for language, title in rows}

    async def content(
        self, document_id: str, version: int | None, language: Language
    ) -> DocumentContent:
        """A readable version (the current one when `version` is None) in `language`, or in
        the language it exists in when not in that one."""
        async with reading(self._session_factory) as session:
            document = await self._document(session, document_id)
            if version is None:
                row = await self._current_version(session, document_id)
            else:
                row = await self._version(session, document_id, version)
                if row.state not in READABLE_STATES:
                    raise _no_version(document_id, version)
            texts = {
                text.language: text
                for text in await session.scalars(
                    select(TechDocumentText).where(TechDocumentText.version_id == row.id)
                )
            }
            text = texts.get(language.value) or texts[sorted(texts)[0]]
            applicability = list(
                await session.scalars(
                    select(TechDocumentApplicability)
                    .where(TechDocumentApplicability.document_id == document_id)
                    .order_by(TechDocumentApplicability.id)
                )
            )
            current = await session.scalar(
                select(TechDocumentVersion.version).where(
                    TechDocumentVersion.document_id == document_id,
                    TechDocumentVersion.state == VersionState.PUBLISHED.value,
                )
            )
            return DocumentContent(document, row, text, sorted(texts), applicability, current)

    async def versions(self, document_id: str) -> list[TechDocumentVersion]:
        """The readable versions, newest first."""
        async with reading(self._session_factory) as session:
            await self._document(session, document_id)
            rows = list(
                await session.scalars(
                    select(TechDocumentVersion)
                    .where(
                        TechDocumentVersion.document_id == document_id,
                        TechDocumentVersion.state.in_([s.value for s in READABLE_STATES]),
                    )
                    .order_by(TechDocumentVersion.version.desc())
                )
            )
            if not rows:
                raise _no_document(document_id)
            return rows

    async def version_row(self, document_id: str, version: int) -> TechDocumentVersion:
        """Any version, whatever its state (for the publishing flow)."""
        async with reading(self._session_factory) as session:
            return await self._version(session, document_id, version)

    async def applicability(self, document_id: str) -> list[Applicability]:
        async with reading(self._session_factory) as session:
            rows = await session.scalars(
                select(TechDocumentApplicability).where(
                    TechDocumentApplicability.document_id == document_id
                )
            )
            return [
                Applicability(row.series, row.type_code, row.produced_from, row.produced_until)
                for row in rows
            ]

    async def document(self, document_id: str) -> TechDocument:
        """The document whatever the state of its versions (for the publishing flow)."""
        async with reading(self._session_factory) as session:
            return await self._document(session, document_id)

    async def document_count(self) -> int:
        async with reading(self._session_factory) as session:
            return int(await session.scalar(select(func.count(TechDocument.id))) or 0)

    async def _document(self, session: AsyncSession, document_id: str) -> TechDocument:
        return await get_or_raise(session, TechDocument, document_id, _no_document(document_id))

    async def _current_version(
        self, session: AsyncSession, document_id: str
    ) -> TechDocumentVersion:
        """The published version; a document whose versions were all superseded or withdrawn
        shows its newest readable one."""
        row = await session.scalar(
            select(TechDocumentVersion)
            .where(
                TechDocumentVersion.document_id == document_id,
                TechDocumentVersion.state.in_([s.value for s in READABLE_STATES]),
            )
            .order_by(
                (TechDocumentVersion.state == VersionState.PUBLISHED.value).desc(),
                TechDocumentVersion.version.desc(),
            )
            .limit(1)
        )
        if row is None:
            raise _no_document(document_id)
        return row

    async def _version(
        self, session: AsyncSession, document_id: str, version: int
    ) -> TechDocumentVersion:
        row = await session.scalar(
            select(TechDocumentVersion).where(
                TechDocumentVersion.document_id == document_id,
                TechDocumentVersion.version == version,
            )
        )
        if row is None:
            raise _no_version(document_id, version)
        return row


def _applicability_rows(
    document_id: str, applicability: Sequence[Applicability]
) -> list[TechDocumentApplicability]:
    return [
        TechDocumentApplicability(
            document_id=document_id,
            series=item.series,
            type_code=item.type_code,
            produced_from=item.produced_from,
            produced_until=item.produced_until,
        )
        for item in applicability
    ]


def _no_document(document_id: str) -> DocumentNotFound:
    return DocumentNotFound(f"no document {document_id}", field="document_id")


def _no_version(document_id: str, version: int) -> DocumentVersionNotFound:
    return DocumentVersionNotFound(
        f"document {document_id} has no readable version {version}", field="version"
    )
