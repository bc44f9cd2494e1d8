"""The purchase's stack: the portal over HTTP with its worker on the dev server, and the
simulated payment provider over HTTP, which reaches the portal only by its signed callback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from hw.sim.payment_provider import SimulatedPaymentProvider, create_provider_app
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.serving import free_port, serving_api
from tests.teleservices.conftest import eventually

PDFTOTEXT = shutil.which("pdftotext")


def pdf_text(pdf: bytes) -> str:
    if PDFTOTEXT is None:
        pytest.skip("needs pdftotext (apt install poppler-utils)")
    return subprocess.run(
        [PDFTOTEXT, "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


@dataclass
class Stack:
    api: httpx.AsyncClient  # the portal over HTTP
    provider: httpx.AsyncClient  # the simulated provider over HTTP, as the payer's browser
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]

    async def owner(self, country: str = "NL", vat_id: str | None = None) -> SignedIn:
        workshop_id = await create_workshop(self.session_factory, country=country, vat_id=vat_id)
        return await sign_in(self.session_factory, Role.WORKSHOP_OWNER, workshop_id)

    async def pay(self, owner: SignedIn, credit_cents: int) -> dict[str, Any]:
        """Confirm a top-up: the started payment (with the provider's page to go to)."""
        started = await self.api.post(
            f"/workshops/{owner.workshop_id}/payments",
            json={"amount_cents": credit_cents},
            headers=owner.headers,
        )
        assert started.status_code == 201, started.text
        payment: dict[str, Any] = started.json()
        return payment

    async def press(self, checkout_url: str, action: str) -> httpx.Response:
        """Open the provider's page, then press Pay, Fail or Cancel on it."""
        page = await self.provider.get(checkout_url)
        assert page.status_code == 200, page.text
        form = dict(parse_qsl(urlsplit(checkout_url).query))
        return await self.provider.post("/checkout", data={**form, "action": action})

    async def payment(self, owner: SignedIn, payment_id: str) -> dict[str, Any]:
        answer = await self.api.get(
            f"/workshops/{owner.workshop_id}/payments/{payment_id}", headers=owner.headers
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def settled(self, owner: SignedIn, payment_id: str) -> dict[str, Any]:
        return await eventually(
            lambda: self.payment(owner, payment_id), lambda p: p["state"] != "pending"
        )

    async def balance(self, owner: SignedIn) -> int:
        answer = await self.api.get(
            f"/workshops/{owner.workshop_id}/account", headers=owner.headers
        )
        assert answer.status_code == 200, answer.text
        return int(answer.json()["balance_cents"])

    async def invoices(self, owner: SignedIn) -> list[dict[str, Any]]:
        answer = await self.api.get(
            f"/workshops/{owner.workshop_id}/invoices", headers=owner.headers
        )
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    async def invoice_text(self, owner: SignedIn, number: str) -> str:
        answer = await self.api.get(
            f"/workshops/{owner.workshop_id}/invoices/{number}.pdf", headers=owner.headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        return pdf_text(answer.content)


@pytest.fixture
def abandon_after_seconds() -> int:
    return 1800


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment,
    database_url: str,
    tmp_path: Any,
    task_queue: str,
    session_factory: async_sessionmaker[AsyncSession],
    abandon_after_seconds: int,
) -> AsyncIterator[Stack]:
    portal_port, provider_port = free_port(), free_port()
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        portal_task_queue=task_queue,
        payment_provider_url=f"http://127.0.0.1:{provider_port}",
        payment_abandon_after_seconds=abandon_after_seconds,
    )
    provider = SimulatedPaymentProvider(
        f"http://127.0.0.1:{portal_port}", settings.payment_secret()
    )
    app = create_app(settings, temporal=dev_env.client)
    deps = PortalDependencies(settings, session_factory)
    async with (
        portal_worker(dev_env.client, deps, task_queue),
        serving_api(app, portal_port) as portal_url,
        serving_api(create_provider_app(provider), provider_port) as provider_url,
        httpx.AsyncClient(base_url=portal_url, timeout=30) as api,
        httpx.AsyncClient(base_url=provider_url, timeout=30) as browser,
    ):
        yield Stack(api, browser, settings, session_factory)
