"""Full-text search on SQLite (FTS5) and PostgreSQL (tsvector, GIN): the same documents for
the same words, ranked with the title first, snippets that mark the words, the filters, and
the applicability of a vehicle's type code and production date."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.document_search import SearchFilter, split_marked
from db.technical_information import TechnicalInformationRepository
from db.technical_information_seed import seed_technical_information
from domain.technical_information import InvalidSearch, search_terms

pytestmark = pytest.mark.database

# The demo car WBA8E5105FK731548: a 320d (F30, type code 8E51) built on 12 March 2015.
DEMO_CAR: dict[str, Any] = {
    "series": "F30",
    "type_code": "8E51",
    "production_date": date(2015, 3, 12),
}


@pytest.fixture
async def repository(
    session_factory: async_sessionmaker[AsyncSession],
) -> TechnicalInformationRepository:
    await seed_technical_information(session_factory)
    return TechnicalInformationRepository(session_factory)


async def _ids(
    repository: TechnicalInformationRepository, query: str, language: str = "en", **where: Any
) -> list[str]:
    page = await repository.search(
        search_terms(query),
        SearchFilter(language=language, **where),
        100,
        0,
    )
    assert page.total == len(page.results)
    return [found.document.id for found in page.results]


async def test_words_find_every_document_holding_them_and_rank_the_title_first(
    repository: TechnicalInformationRepository,
) -> None:
    found = await _ids(repository, "timing chain", **DEMO_CAR)
    # The repair instruction names it in its title; the fault code only in its text.
    assert found == ["RI-F30-1132", "FC-F30-2A82"]

    found = await _ids(repository, "brake pads", **DEMO_CAR)
    assert found[0] == "RI-F30-3411"
    assert set(found) == {"RI-F30-3411", "WD-F30-3401", "LT-F30-34", "ST-F30-341190", "IS-F30-0001"}

    found = await _ids(repository, "remblokken", language="nl")
    assert len(found) == 12
    assert set(found[:3]) == {"RI-F30-3411", "RI-G30-3411", "RI-G05-3411"}


async def test_a_snippet_marks_the_matched_words(
    repository: TechnicalInformationRepository,
) -> None:
    page = await repository.search(
        search_terms("timing chain"), SearchFilter("en", **DEMO_CAR), 1, 0
    )
    parts = split_marked(page.results[0].snippet or "")
    marked = [text.lower() for text, matched in parts if matched]
    assert marked and set(marked) <= {"timing", "chain"}
    assert "reinforced tensioner rail" in "".join(text for text, _ in parts)


async def test_the_vehicle_selects_what_applies_by_type_code_and_production_date(
    repository: TechnicalInformationRepository,
) -> None:
    for_demo_car = await _ids(repository, "", **DEMO_CAR)
    assert "RI-F30-1132" in for_demo_car  # from 01/2015
    assert "RI-F30-1131" not in for_demo_car  # up to 12/2014
    assert "SIB-F30-1208" in for_demo_car  # type code 8E51 only
    assert "TC-0011190300" in for_demo_car
    assert not any(doc.startswith(("RI-G30", "RI-G05")) for doc in for_demo_car)

    built_earlier = {**DEMO_CAR, "production_date": date(2014, 6, 1)}
    assert "RI-F30-1131" in await _ids(repository, "", **built_earlier)
    other_engine = {**DEMO_CAR, "type_code": "8A31"}
    assert "SIB-F30-1208" not in await _ids(repository, "", **other_engine)


async def test_filters_by_document_type_and_system_group(
    repository: TechnicalInformationRepository,
) -> None:
    diagrams = await _ids(repository, "", doc_types=["wiring_diagram"])
    assert len(diagrams) == 12 and all(d.startswith("WD-") for d in diagrams)
    security = await _ids(repository, "immobiliser", system_groups=["security"])
    assert set(security) == {
        f"{kind}-{s}-{n}"
        for s in ("F30", "G30", "G05")
        for kind, n in (("RI", "6631"), ("WD", "6601"))
    }
    assert await _ids(repository, "immobiliser", system_groups=["brakes"]) == []


async def test_a_superseded_version_is_not_found_again(
    repository: TechnicalInformationRepository,
) -> None:
    # Only version 2 of RI-F30-3411 speaks of stretch bolts; version 1 is not searched.
    assert await _ids(repository, "carrier bolt", **DEMO_CAR) == ["RI-F30-3411"]
    found = await _ids(repository, "brake", doc_types=["repair_instruction"], **DEMO_CAR)
    assert found.count("RI-F30-3411") == 1


def test_query_syntax_never_reaches_the_database() -> None:
    assert search_terms('brake" OR * NEAR(x) -pads & | !') == ["brake", "near", "x", "pads"]
    assert search_terms("the brake of the car") == ["brake", "car"]
    with pytest.raises(InvalidSearch):
        search_terms("x" * 201)
