"""The document store and the demo corpus, on SQLite and PostgreSQL: what the corpus command
builds, and how versions and languages read back."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.technical_information import TechnicalInformationRepository
from db.technical_information_seed import seed_technical_information
from domain.technical_information import (
    DocumentNotFound,
    DocumentText,
    DocumentType,
    DocumentVersionNotFound,
    Language,
    VersionState,
)
from domain.technical_information_corpus import demo_corpus
from domain.technical_information_corpus.writing import SERIES

pytestmark = pytest.mark.database


def test_the_demo_corpus_covers_three_series_in_two_languages() -> None:
    corpus = demo_corpus()
    assert len(corpus) >= 60
    assert all({t.language for t in doc.texts} == {Language.EN, Language.NL} for doc in corpus)
    diagrams = [doc for doc in corpus if doc.doc_type == DocumentType.WIRING_DIAGRAM]
    assert len(diagrams) >= 10
    assert all(text.svg and text.svg.startswith("<svg") for d in diagrams for text in d.texts)
    assert sum(doc.security_related for doc in corpus) >= 3
    assert {a.series for doc in corpus for a in doc.applicability} == {s.code for s in SERIES}
    assert {doc.doc_type for doc in corpus} == set(DocumentType)
    assert len({doc.document_id for doc in corpus}) == len(corpus)


async def test_the_corpus_command_stores_it_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    assert await seed_technical_information(session_factory) == len(demo_corpus())
    assert await seed_technical_information(session_factory) == 0
    repository = TechnicalInformationRepository(session_factory)
    assert await repository.document_count() == len(demo_corpus())


async def test_a_superseded_version_stays_readable_and_names_its_successor(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed_technical_information(session_factory)
    repository = TechnicalInformationRepository(session_factory)

    versions = await repository.versions("RI-F30-3411")
    assert [(v.version, v.state, v.superseded_by_version) for v in versions] == [
        (2, VersionState.PUBLISHED, None),
        (1, VersionState.SUPERSEDED, 2),
    ]
    current = await repository.content("RI-F30-3411", None, Language.EN)
    assert current.version.version == 2
    assert "stretch bolts" in current.text.body
    old = await repository.content("RI-F30-3411", 1, Language.NL)
    assert old.version.state == VersionState.SUPERSEDED
    assert old.current_version == 2
    assert old.text.language == "nl" and "Remblokken" in old.text.title
    assert "rekbouten" not in old.text.body

    with pytest.raises(DocumentVersionNotFound):
        await repository.content("RI-F30-3411", 3, Language.EN)
    with pytest.raises(DocumentNotFound):
        await repository.content("RI-NONE-0000", None, Language.EN)


async def test_a_draft_is_not_readable_until_published(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed_technical_information(session_factory)
    repository = TechnicalInformationRepository(session_factory)
    first = await repository.content("SIB-G30-3105", None, Language.EN)
    draft = await repository.add_version(
        "SIB-G30-3105",
        [DocumentText(Language.EN, first.text.title, "Draft: new bushes 33 50 6 861 482.")],
        "New bush part number",
        first.version.created_at,
    )
    assert draft == 2
    with pytest.raises(DocumentVersionNotFound):
        await repository.content("SIB-G30-3105", 2, Language.EN)
    assert [v.version for v in await repository.versions("SIB-G30-3105")] == [1]

    await repository.set_version_state(
        "SIB-G30-3105", 2, VersionState.PUBLISHED, first.version.created_at
    )
    assert (await repository.content("SIB-G30-3105", None, Language.EN)).version.version == 2
    assert (await repository.content("SIB-G30-3105", 1, Language.EN)).current_version == 2
