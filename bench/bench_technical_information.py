"""Technical-information search over a generated corpus of 20,000 documents (40,000 texts,
English and Dutch), on SQLite and, with `AOS_BENCH_POSTGRES_URL` (a server where the bench may
create and drop a database of its own), on PostgreSQL.

- `docs_index_seconds_<db>`: storing the corpus and building its full-text index, in batches
  of 1,000 documents (`TechnicalInformationRepository.add_documents`), then `ANALYZE`;
- `docs_search_p95_ms_<db>`: the 95th percentile latency of 200 mixed queries, each narrowed
  to a vehicle (series, type code and production date, what a VIN decodes to): one to three
  words, half of them with a document-type or system-group filter, a tenth with no words (the
  vehicle's document list), first page of 20 with snippets.

These are absolute times on this machine (the issue's goal: p95 ≤ 50 ms), not ratios.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db import migrate
from db.document_search import SearchFilter
from db.engine import create_engine, create_session_factory
from db.technical_information import TechnicalInformationRepository
from domain.technical_information import DocumentType, SystemGroup, search_terms
from domain.technical_information_corpus.bench import bench_series, generated_corpus

CORPUS_SIZE = 20_000
BATCH = 1_000
QUERIES = 200
WORDS = (
    "brake caliper", "wheel bearing", "coolant pump", "timing chain", "turbocharger",
    "injector", "headlight", "window regulator", "door lock", "control arm", "drive shaft",
    "fuel pump", "alternator", "starter motor", "thermostat", "radiator", "torque",
    "leaks", "wear", "battery", "replace", "inspect", "mirror", "spring", "steering rack",
)  # fmt: skip


async def _measure(database_url: str) -> tuple[float, float]:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        repository = TechnicalInformationRepository(create_session_factory(engine))
        corpus = generated_corpus(CORPUS_SIZE)
        now = datetime.now(UTC)
        started = time.perf_counter()
        for first in range(0, len(corpus), BATCH):
            await repository.add_documents(corpus[first : first + BATCH], now)
        # The planner's statistics of the new rows, as after any bulk load.
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()
        index_seconds = time.perf_counter() - started

        rng = random.Random(2018_858)
        series = bench_series()
        latencies = []
        for number in range(QUERIES):
            code, type_codes = rng.choice(series)
            words = "" if number % 10 == 0 else " ".join(rng.sample(WORDS, rng.randint(1, 2)))
            where = SearchFilter(
                language=rng.choice(["en", "nl"]),
                doc_types=[rng.choice(list(DocumentType)).value] if number % 4 == 1 else [],
                system_groups=[rng.choice(list(SystemGroup)).value] if number % 4 == 2 else [],
                series=code,
                type_code=rng.choice(type_codes),
                production_date=date(rng.randint(2010, 2022), rng.randint(1, 12), 15),
            )
            begin = time.perf_counter()
            await repository.search(search_terms(words), where, 20, 0)
            latencies.append((time.perf_counter() - begin) * 1000)
        p95 = statistics.quantiles(latencies, n=100)[94]
        return index_seconds, p95
    finally:
        await engine.dispose()


async def _sqlite() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        return await _measure(f"sqlite:///{Path(folder) / 'bench.db'}")


async def _postgres(admin_url: str) -> tuple[float, float]:
    url = make_url(admin_url)
    name = f"aos_bench_docs_{uuid.uuid4().hex[:8]}"
    dsn = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await _measure(url.set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _figures() -> dict[str, float]:
    figures: dict[str, float] = {}
    index_seconds, p95 = await _sqlite()
    figures["docs_index_seconds_sqlite"] = index_seconds
    figures["docs_search_p95_ms_sqlite"] = p95
    admin_url = os.environ.get("AOS_BENCH_POSTGRES_URL")
    if admin_url:
        index_seconds, p95 = await _postgres(admin_url)
        figures["docs_index_seconds_postgresql"] = index_seconds
        figures["docs_search_p95_ms_postgresql"] = p95
    return figures


async def run() -> dict[str, float]:
    return await _figures()


if __name__ == "__main__":
    for key, value in asyncio.run(run()).items():
        print(f"{key}: {value:.4g}")
