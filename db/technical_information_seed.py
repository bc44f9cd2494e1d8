"""Builds the demo corpus of technical information into a database.

`.venv/bin/python -m db.technical_information_seed` (the database of `AOS_DATABASE_URL`,
migrated first) is what `make dev` runs; the tests call `seed_technical_information`.
Idempotent: a database that holds the corpus already is left as it is.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import migrate
from db.engine import create_engine, create_session_factory
from db.technical_information import TechnicalInformationRepository
from domain.errors import NotFound
from domain.technical_information import VersionState
from domain.technical_information_corpus import demo_corpus, demo_revisions


async def seed_technical_information(
    session_factory: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> int:
    """Store the demo documents and their later versions; how many documents were added."""
    repository = TechnicalInformationRepository(session_factory)
    corpus = demo_corpus()
    try:
        await repository.document_summary(corpus[0].document_id)
        return 0
    except NotFound:
        pass
    moment = now or datetime.now(UTC)
    await repository.add_documents(corpus, moment)
    for revision in demo_revisions():
        await repository.add_version(
            revision.document_id,
            revision.texts,
            revision.change_note,
            moment,
            VersionState.PUBLISHED,
        )
    return len(corpus)


async def _seed(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await seed_technical_information(create_session_factory(engine))
    finally:
        await engine.dispose()


def main() -> None:
    from settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: AOS_DATABASE_URL")
    arguments = parser.parse_args()
    database_url = arguments.database_url or get_settings().database_url
    migrate.upgrade(database_url)
    added = asyncio.run(_seed(database_url))
    print(
        f"technical information: {added} demo documents added"
        if added
        else "technical information: the demo corpus is there already"
    )


if __name__ == "__main__":
    main()
