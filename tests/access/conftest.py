"""Fixtures of the access tests: the portal worker on the time-skipping server, and probes.

`AccessProbe` asks the access check at the workflow clock (the way a programming session
does); `CoverageSubscriber` subscribes to an EntitlementWorkflow and returns the first
`coverage_extended` it is sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.access import EntitlementCheckInput, EntitlementGrant
from application.payments import SandboxPaymentGateway
from contracts.access import (
    CoverageExtended,
    Subscription,
    entitlement_workflow_id,
    ticket_purchase_workflow_id,
)
from contracts.errors import domain_error_from_failure
from db.access_repository import AccessRepository
from domain.catalogue import Service, TicketPeriod
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from workflows.ticket_purchase import (
    TicketPurchaseInput,
    TicketPurchaseResult,
    TicketPurchaseWorkflow,
)


class ProbeInput(BaseModel):
    workshop_id: str
    service: Service
    portal_queue: str


class ProbeOutcome(BaseModel):
    allowed: bool
    remaining: timedelta | None = None
    code: str | None = None
    ended_at: str | None = None
    purchase: str | None = None


@workflow.defn(sandboxed=False)
class AccessProbe:
    @workflow.run
    async def run(self, probe: ProbeInput) -> ProbeOutcome:
        try:
            grant: EntitlementGrant = await workflow.execute_activity(
                "check_entitlement",
                EntitlementCheckInput(
                    workshop_id=probe.workshop_id, service=probe.service, at=workflow.now()
                ),
                task_queue=probe.portal_queue,
                start_to_close_timeout=timedelta(seconds=30),
                result_type=EntitlementGrant,
            )
        except ActivityError as failure:
            error = domain_error_from_failure(failure)
            assert error is not None
            return ProbeOutcome(
                allowed=False,
                code=error.code,
                ended_at=error.context.get("ended_at"),
                purchase=error.context.get("purchase"),
            )
        return ProbeOutcome(allowed=True, remaining=grant.remaining)


@workflow.defn(sandboxed=False)
class CoverageSubscriber:
    def __init__(self) -> None:
        self.extensions: list[CoverageExtended] = []

    @workflow.signal(name="coverage_extended")
    def coverage_extended(self, extended: CoverageExtended) -> None:
        self.extensions.append(extended)

    @workflow.run
    async def run(self, entitlement_id: str) -> CoverageExtended:
        await workflow.get_external_workflow_handle(entitlement_id).signal(
            "subscribe", Subscription(workflow_id=workflow.info().workflow_id)
        )
        await workflow.wait_condition(lambda: bool(self.extensions))
        return self.extensions[-1]


@pytest.fixture
async def access_env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """The time-skipping server (its search attributes are registered by tests/conftest.py)."""
    return time_skipping_env


@dataclass
class Portal:
    env: WorkflowEnvironment
    task_queue: str
    probe_queue: str
    repository: AccessRepository
    workshops: list[str] = field(default_factory=list)

    async def top_up(self, workshop_id: str, cents: int, key: str = "initial-credit") -> None:
        await self.repository.top_up(workshop_id, key, cents, None, "test", SandboxPaymentGateway())

    async def buy(
        self, workshop_id: str, service: Service, period: TicketPeriod, key: str
    ) -> TicketPurchaseResult:
        if workshop_id not in self.workshops:
            self.workshops.append(workshop_id)
        with self.env.auto_time_skipping_disabled():
            return await self.env.client.execute_workflow(
                TicketPurchaseWorkflow.run,
                TicketPurchaseInput(
                    workshop_id=workshop_id, idempotency_key=key, service=service, period=period
                ),
                id=ticket_purchase_workflow_id(workshop_id, key),
                task_queue=self.task_queue,
            )

    async def probe(self, workshop_id: str, service: Service) -> ProbeOutcome:
        with self.env.auto_time_skipping_disabled():
            return await self.env.client.execute_workflow(
                AccessProbe.run,
                ProbeInput(workshop_id=workshop_id, service=service, portal_queue=self.task_queue),
                id=f"probe-{self.probe_queue}-{await self.env.get_current_time()}",
                task_queue=self.probe_queue,
            )

    async def sleep_until(self, moment: datetime) -> None:
        gap = moment - await self.env.get_current_time()
        if gap > timedelta(0):
            await self.env.sleep(gap)


@pytest.fixture
async def portal(
    access_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
    task_queue: str,
) -> AsyncIterator[Portal]:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    deps = PortalDependencies(settings, session_factory)
    probe_queue = f"{task_queue}-probe"
    the_portal = Portal(access_env, task_queue, probe_queue, AccessRepository(session_factory))
    async with (
        portal_worker(access_env.client, deps, task_queue),
        Worker(
            access_env.client,
            task_queue=probe_queue,
            workflows=[AccessProbe, CoverageSubscriber],
        ),
    ):
        yield the_portal
        # Entitlement workflows outlive the test; stop them so no timer waits for a worker.
        for workshop_id in the_portal.workshops:
            for service in Service:
                with contextlib.suppress(Exception):
                    await access_env.client.get_workflow_handle(
                        entitlement_workflow_id(workshop_id, service)
                    ).terminate("test finished")
