"""Full-text search over the technical documents, behind one interface on both databases.

- SQLite (the embedded mode): an FTS5 table with the Porter stemmer over the texts' title and
  body (external content: the words are indexed, the text stays in `tech_document_texts`),
  ranked by BM25 with the title weighing ten times the body, snippets by FTS5's `snippet`.
- PostgreSQL (production): a table of `tsvector`s with a GIN index, each built with the
  language configuration of its text (`english`, `dutch`), title weight A and body weight B,
  ranked by `ts_rank`, snippets by `ts_headline`.

Both take the same words (`domain.technical_information.search_terms`: letters and digits
only, stop words dropped), require all of them, and order by rank then document id, so the
same corpus answers the same documents in the same order on both for queries whose words the
two stemmers treat alike (the tests and the bench use such queries; Dutch words are stemmed
by PostgreSQL's Dutch stemmer and by FTS5's English Porter stemmer, so inflected Dutch forms
may differ).

A snippet comes back as text with `MARK_START`/`MARK_END` around each matched word, never as
HTML: whoever shows it escapes the text and marks the words (`split_marked`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

SEARCH_INDEX_TABLE = "tech_document_search"
SEARCH_INDEX_TABLES = frozenset(
    {SEARCH_INDEX_TABLE}
    | {f"{SEARCH_INDEX_TABLE}_{shadow}" for shadow in ("data", "idx", "docsize", "config")}
)
"""The index's tables (on SQLite FTS5 adds its shadow tables): not models, so Alembic's model
comparison leaves them out (`include_name`)."""

MARK_START = "\x02"
MARK_END = "\x03"
SNIPPET_WORDS = 24

POSTGRES_CONFIGURATIONS = {"en": "english", "nl": "dutch"}
"""The text search configuration of each document language on PostgreSQL."""


def _tag(kind: str, value: str) -> str:
    # One token for FTS5's tokenizer: letters and digits only, lower case.
    return "x" + kind + "".join(c for c in value.lower() if c.isalnum())


def search_tags(language: str, series: Sequence[str]) -> str:
    """What a text is tagged with in the index: its language and its document's series."""
    return " ".join([_tag("lang", language), *sorted({_tag("series", s) for s in series})])


def _narrowing_tags(where: SearchFilter) -> list[str]:
    """The tags a search requires (the language, and the vehicle's series when there is one),
    so the index itself narrows the matches before any is ranked."""
    tags = [_tag("lang", where.language)]
    if where.series is not None:
        tags.append(_tag("series", where.series))
    return tags


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's filter: the search index is kept by this module, not by the models."""
    return not (type_ == "table" and name in SEARCH_INDEX_TABLES)


def create_index_statements(dialect: str) -> list[str]:
    """The DDL of the index (migration 0011)."""
    if dialect == "sqlite":
        return [
            f"CREATE VIRTUAL TABLE {SEARCH_INDEX_TABLE} USING fts5("
            "title, body, search_tags, content='tech_document_texts', content_rowid='id', "
            "tokenize='porter unicode61 remove_diacritics 2')"
        ]
    return [
        f"CREATE TABLE {SEARCH_INDEX_TABLE} ("
        "text_id INTEGER PRIMARY KEY REFERENCES tech_document_texts (id) ON DELETE CASCADE, "
        "search_vector TSVECTOR NOT NULL)",
        f"CREATE INDEX ix_{SEARCH_INDEX_TABLE}_vector ON {SEARCH_INDEX_TABLE} "
        "USING GIN (search_vector)",
    ]


def drop_index_statements(dialect: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {SEARCH_INDEX_TABLE}"]


@dataclass(frozen=True)
class SearchFilter:
    """What narrows a search besides the words; `None` means no narrowing."""

    language: str
    doc_types: Sequence[str] = ()
    system_groups: Sequence[str] = ()
    # The vehicle's facts (from its VIN): only documents that apply to it.
    series: str | None = None
    type_code: str | None = None
    production_date: Any = None


@dataclass(frozen=True)
class SearchHit:
    text_id: int
    document_id: str
    rank: float
    snippet: str


def _filters(where: SearchFilter, params: dict[str, Any]) -> str:
    """SQL conditions over `t` (texts), `v` (versions) and `d` (documents), the same on both."""
    clauses = ["v.state = 'published'", "t.language = :language"]
    params["language"] = where.language
    if where.doc_types:
        names = [f"doc_type_{i}" for i in range(len(where.doc_types))]
        params.update(zip(names, where.doc_types, strict=True))
        clauses.append("d.doc_type IN (" + ", ".join(f":{n}" for n in names) + ")")
    if where.system_groups:
        names = [f"system_group_{i}" for i in range(len(where.system_groups))]
        params.update(zip(names, where.system_groups, strict=True))
        clauses.append("d.system_group IN (" + ", ".join(f":{n}" for n in names) + ")")
    if where.series is not None:
        params.update(
            series=where.series, type_code=where.type_code, production_date=where.production_date
        )
        # Not correlated: the vehicle's documents are selected once, by the series index.
        clauses.append(
            "d.id IN (SELECT a.document_id FROM tech_document_applicability a "
            "WHERE a.series = :series AND (a.type_code IS NULL OR a.type_code = :type_code) "
            "AND (a.produced_from IS NULL OR a.produced_from <= :production_date) "
            "AND (a.produced_until IS NULL OR a.produced_until >= :production_date))"
        )
    return " AND ".join(clauses)


_JOINS = (
    "JOIN tech_document_versions v ON v.id = t.version_id "
    "JOIN tech_documents d ON d.id = v.document_id"
)


class DocumentSearch:
    """The one interface both databases implement, and what they do alike: index texts by
    their ids with one INSERT … SELECT, count every match, and rank one page of the same
    matches. Each database says how it indexes (`_INDEX_TEXTS`), what a match is (`_matches`)
    and how a page is ranked (`_page`)."""

    # INSERT … SELECT … FROM tech_document_texts WHERE id IN :ids
    _INDEX_TEXTS: str

    async def index_texts(self, session: AsyncSession, text_ids: Sequence[int]) -> None:
        """Add these stored texts to the index (in the caller's transaction)."""
        if text_ids:
            await session.execute(
                text(self._INDEX_TEXTS).bindparams(bindparam("ids", expanding=True)),
                {"ids": list(text_ids)},
            )

    async def search(
        self,
        session: AsyncSession,
        terms: Sequence[str],
        where: SearchFilter,
        limit: int,
        offset: int,
    ) -> tuple[list[SearchHit], int]:
        """The published texts that hold every term, best first, and how many there are."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        matches = self._matches(terms, where, params)
        total = (await session.execute(text(f"SELECT count(*) {matches}"), params)).scalar_one()
        return await self._page(session, matches, params), int(total)

    def _matches(self, terms: Sequence[str], where: SearchFilter, params: dict[str, Any]) -> str:
        """The FROM and WHERE clauses of the matching texts (`s` index, `t` texts, `v`
        versions, `d` documents); the parameters they take go into `params`."""
        raise NotImplementedError

    async def _page(
        self, session: AsyncSession, matches: str, params: dict[str, Any]
    ) -> list[SearchHit]:
        """The page (`:limit`, `:offset`) of the matches, best first, with their snippets."""
        raise NotImplementedError


class Fts5DocumentSearch(DocumentSearch):
    _INDEX_TEXTS = (
        f"INSERT INTO {SEARCH_INDEX_TABLE} (rowid, title, body, search_tags) "
        "SELECT id, title, body, search_tags FROM tech_document_texts "
        "WHERE id IN :ids"
    )

    def _matches(self, terms: Sequence[str], where: SearchFilter, params: dict[str, Any]) -> str:
        # Each term quoted: FTS5 reads it as one word, never as an operator; together: AND,
        # in the title or the body. The language and the vehicle's series narrow the matches
        # in the index itself, so only those are ranked (a common word matches every text).
        words = " AND ".join(f'{{title body}} : "{term}"' for term in terms)
        params["match"] = words + "".join(
            f' AND search_tags : "{tag}"' for tag in _narrowing_tags(where)
        )
        conditions = _filters(where, params)
        # CROSS JOIN keeps the index as SQLite's outer loop: otherwise the planner may walk
        # every text and probe the index once per text (seconds on 40,000 texts).
        return (
            f"FROM {SEARCH_INDEX_TABLE} s CROSS JOIN tech_document_texts t ON t.id = s.rowid "
            f"{_JOINS} WHERE {SEARCH_INDEX_TABLE} MATCH :match AND {conditions}"
        )

    async def _page(
        self, session: AsyncSession, matches: str, params: dict[str, Any]
    ) -> list[SearchHit]:
        ranked = (
            await session.execute(
                text(
                    f"SELECT t.id, d.id, bm25({SEARCH_INDEX_TABLE}, 10.0, 1.0, 0.0) AS score "
                    f"{matches} ORDER BY score, d.id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).all()
        # Snippets for the page's rows only: computed in the ranking query, they would be made
        # for every match before the sort.
        snippets: dict[int, str] = {}
        if ranked:
            rows = await session.execute(
                text(
                    f"SELECT rowid, snippet({SEARCH_INDEX_TABLE}, 1, :mark_start, :mark_end, "
                    f"'…', {SNIPPET_WORDS}) FROM {SEARCH_INDEX_TABLE} "
                    f"WHERE {SEARCH_INDEX_TABLE} MATCH :match AND rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {
                    "match": params["match"],
                    "ids": [row[0] for row in ranked],
                    "mark_start": MARK_START,
                    "mark_end": MARK_END,
                },
            )
            snippets = {row[0]: row[1] for row in rows}
        # BM25 is lower for better matches; turned around so both report higher = better.
        return [SearchHit(row[0], row[1], -float(row[2]), snippets[row[0]]) for row in ranked]


# Each text with its own language's configuration (title weight A, body weight B).
_POSTGRES_TEXT_CONFIGURATION = (
    "CASE language "
    + " ".join(
        f"WHEN '{language}' THEN CAST('{name}' AS regconfig)"
        for language, name in POSTGRES_CONFIGURATIONS.items()
    )
    + " END"
)


class PostgresDocumentSearch(DocumentSearch):
    _INDEX_TEXTS = (
        f"INSERT INTO {SEARCH_INDEX_TABLE} (text_id, search_vector) "
        f"SELECT id, setweight(to_tsvector({_POSTGRES_TEXT_CONFIGURATION}, title), 'A') "
        f"|| setweight(to_tsvector({_POSTGRES_TEXT_CONFIGURATION}, body), 'B') "
        "|| setweight(to_tsvector('simple', search_tags), 'D') "
        "FROM tech_document_texts WHERE id IN :ids"
    )
    # plainto_tsquery ANDs the words and reads no operators from them.
    _QUERY = "plainto_tsquery(CAST(:config AS regconfig), :words)"

    def _matches(self, terms: Sequence[str], where: SearchFilter, params: dict[str, Any]) -> str:
        params["config"] = POSTGRES_CONFIGURATIONS[where.language]
        params["words"] = " ".join(terms)
        conditions = _filters(where, params)
        # The language and the vehicle's series narrow the matches in the GIN index itself
        # (as on SQLite); the rank is the words' alone.
        params["tags"] = " & ".join(_narrowing_tags(where))
        return (
            f"FROM {SEARCH_INDEX_TABLE} s JOIN tech_document_texts t ON t.id = s.text_id {_JOINS} "
            f"WHERE s.search_vector @@ ({self._QUERY} && to_tsquery('simple', :tags)) "
            f"AND {conditions}"
        )

    async def _page(
        self, session: AsyncSession, matches: str, params: dict[str, Any]
    ) -> list[SearchHit]:
        # The headline is computed for the page's rows only (it reads the whole body).
        rows = await session.execute(
            text(
                "SELECT p.id, p.document_id, p.rank, ts_headline(CAST(:config AS regconfig), "
                f"p.body, {self._QUERY}, :headline) FROM ("
                "SELECT t.id, d.id AS document_id, t.body, "
                f"ts_rank(s.search_vector, {self._QUERY}) AS rank {matches} "
                "ORDER BY rank DESC, d.id LIMIT :limit OFFSET :offset) p "
                "ORDER BY p.rank DESC, p.document_id"
            ),
            {
                **params,
                "headline": f"StartSel={MARK_START}, StopSel={MARK_END}, "
                f"MaxWords={SNIPPET_WORDS}, MinWords={SNIPPET_WORDS // 2}, "
                "ShortWord=2, FragmentDelimiter=…",
            },
        )
        return [SearchHit(row[0], row[1], float(row[2]), row[3]) for row in rows]


def document_search_for(dialect: str) -> DocumentSearch:
    """The implementation for a database (`engine.dialect.name`)."""
    return Fts5DocumentSearch() if dialect == "sqlite" else PostgresDocumentSearch()


def split_marked(snippet: str) -> list[tuple[str, bool]]:
    """A snippet as (text, matched) parts, for a page or an API answer to show safely."""
    parts: list[tuple[str, bool]] = []
    rest = snippet
    while rest:
        start = rest.find(MARK_START)
        if start < 0:
            parts.append((rest, False))
            break
        if start:
            parts.append((rest[:start], False))
        end = rest.find(MARK_END, start)
        if end < 0:
            parts.append((rest[start + 1 :], True))
            break
        parts.append((rest[start + 1 : end], True))
        rest = rest[end + 1 :]
    return [(part.replace(MARK_END, ""), matched) for part, matched in parts if part]


def run_statements(connection: Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        connection.exec_driver_sql(statement)
