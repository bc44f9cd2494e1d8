"""The Temporal Web UI decodes encrypted payloads through the portal's codec.

The UI, a page of the dev server (another origin than the API), calls `POST /codec/decode`
from the operator's browser. It cannot send our bearer token; with its codec setting "Include
cross-origin credentials" it sends the cookies of the API's host: the console's codec session
cookie, set at sign-in on `/codec` only. The codec lets such calls in from the UI's origin only
(CORS with credentials) and decodes for administrators only.

The browser test runs a dev server of its own with the Web UI, the portal worker and the API
with payload keys, and Debian's Chromium; the others call the API in-process as the browser
would (its `Origin`, its cookies).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from contracts.registration import registration_workflow_id
from db.accounts import AccountRepository
from domain.accounts import Role
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from temporal_client import data_converter
from testkit.factories import create_workshop
from testkit.factories import sign_in as signed_in_as
from testkit.serving import free_port, running_api, serving_api
from tests.accounts_helpers import fresh_totp_code
from tests.conftest import BIN
from tests.console.helpers import (
    WorkshopAccount,
    application,
    console_sign_in,
    csrf_of,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "codec-operator@aos-portal.example"
ADMIN_PASSWORD = "a codec operator's long password"
# Only inside the registration flow's input, which is encrypted: no id, search attribute or
# log line holds it, so the page shows it only when the codec decoded the input.
APPLICANT_EMAIL = "decoded.only@garage-codec.example"
UI_ORIGIN = "http://127.0.0.1:8233"  # the embedded default: the dev server's UI
PREFLIGHT = {"Access-Control-Request-Method": "POST"}
# What the UI's codec client sends with every call, so what its preflight asks for.
UI_HEADERS = {"Access-Control-Request-Headers": "content-type,x-namespace"}


def _keys() -> str:
    return f"k1={base64.b64encode(os.urandom(32)).decode()}"


async def _administrator(api: httpx.AsyncClient, email: str = ADMIN_EMAIL) -> WorkshopAccount:
    """An administrator who has enrolled TOTP (through the JSON API), to sign in with."""
    first = await api.post("/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
    enrolment = first.json()
    secret: str = enrolment["secret"]
    confirmed = await api.post(
        "/auth/totp/confirm",
        json={
            "enrolment_token": enrolment["enrolment_token"],
            "code": await fresh_totp_code(secret),
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    return WorkshopAccount("", email, ADMIN_PASSWORD, secret)


# --- the codec's side, over HTTP -------------------------------------------------------------


@pytest.fixture
def encrypting_api(settings: Settings) -> Settings:
    """`settings` with payload keys: the codec routes do their work."""
    return settings.model_copy(update={"payload_keys": _keys()})


async def test_the_codec_answers_the_web_uis_preflight_and_no_other_origins(
    encrypting_api: Settings, dev_env: WorkflowEnvironment
) -> None:
    async with running_api(create_app(encrypting_api, temporal=dev_env.client)) as api:
        for origin in (UI_ORIGIN, "http://localhost:8233"):
            for route in ("/codec/decode", "/codec/encode"):
                allowed = await api.options(
                    route, headers={"Origin": origin} | PREFLIGHT | UI_HEADERS
                )
                assert allowed.status_code == 204, allowed.text
                assert allowed.headers["access-control-allow-origin"] == origin
                assert allowed.headers["access-control-allow-credentials"] == "true"
                assert allowed.headers["access-control-allow-methods"] == "POST"
                asked = set(allowed.headers["access-control-allow-headers"].split(", "))
                assert {"content-type", "x-namespace", "authorization"} == asked
                assert "Origin" in allowed.headers["vary"]

        refusals = [
            ({"Origin": "http://evil.example"} | PREFLIGHT, "origin"),
            # Same host, another port: same site, but another origin (the API's own console
            # page needs no CORS, and no other local service may read decoded payloads).
            ({"Origin": "http://127.0.0.1:9999"} | PREFLIGHT, "origin"),
            (
                {"Origin": UI_ORIGIN, "Access-Control-Request-Method": "PUT"},
                "access-control-request-method",
            ),
            (
                {"Origin": UI_ORIGIN, "Access-Control-Request-Headers": "x-forward-me"} | PREFLIGHT,
                "access-control-request-headers",
            ),
        ]
        for headers, field in refusals:
            refused = await api.options("/codec/decode", headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["type"] == "/problems/cross-origin-refused"
            assert refused.json()["field"] == field
            # Only the UI may read why it was refused.
            assert refused.headers.get("access-control-allow-origin") == (
                UI_ORIGIN if headers["Origin"] == UI_ORIGIN else None
            )

        plain = await api.options("/codec/decode")  # no Origin: not CORS, just "what is allowed"
        assert plain.status_code == 204
        assert plain.headers["allow"] == "OPTIONS, POST"

        # The rest of the API stays same-origin: no preflight, no CORS headers.
        login = await api.options("/auth/login", headers={"Origin": UI_ORIGIN} | PREFLIGHT)
        assert login.status_code == 405
        answer = await api.post("/auth/login", json={}, headers={"Origin": UI_ORIGIN})
        assert "access-control-allow-origin" not in answer.headers

    # A configured origin replaces the embedded default.
    configured = encrypting_api.model_copy(
        update={"temporal_ui_origin": "https://temporal.portal.example"}
    )
    async with running_api(create_app(configured, temporal=dev_env.client)) as api:
        ours = {"Origin": "https://temporal.portal.example"} | PREFLIGHT | UI_HEADERS
        assert (await api.options("/codec/decode", headers=ours)).status_code == 204
        default = {"Origin": UI_ORIGIN} | PREFLIGHT | UI_HEADERS
        assert (await api.options("/codec/decode", headers=default)).status_code == 403


async def test_a_console_session_decodes_from_the_web_ui_for_administrators_only(
    encrypting_api: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Operator"
    )
    owner = await signed_in_as(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory)
    )
    async with (
        running_api(create_app(encrypting_api, temporal=dev_env.client)) as api,
        running_api(create_app(encrypting_api, temporal=dev_env.client)) as browser,
    ):
        admin = await _administrator(api)
        token = (
            await api.post(
                "/auth/login",
                json={
                    "email": ADMIN_EMAIL,
                    "password": ADMIN_PASSWORD,
                    "totp_code": await admin.code(),
                },
            )
        ).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        data = base64.b64encode(json.dumps({"vin": "WBA8E5105FK731548"}).encode()).decode()
        clear = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": data}
        sealed = await api.post("/codec/encode", json={"payloads": [clear]}, headers=bearer)
        assert sealed.status_code == 200, sealed.text
        assert "access-control-allow-origin" not in sealed.headers  # no Origin, no CORS
        body = sealed.json()
        ui = {"Origin": UI_ORIGIN, "X-Namespace": "default"}

        anonymous = await browser.post("/codec/decode", json=body, headers=ui)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["access-control-allow-origin"] == UI_ORIGIN

        signed_in = await console_sign_in(browser, admin)
        cookie = next(
            c
            for c in signed_in.headers.get_list("set-cookie")
            if c.startswith("aos_codec_session=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"path=/codec", "httponly", "samesite=strict"} <= flags
        decoded = await browser.post("/codec/decode", json=body, headers=ui)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
        assert decoded.headers["access-control-allow-credentials"] == "true"
        assert decoded.json()["payloads"][0]["data"] == data
        assert (await api.post("/codec/decode", json=body, headers=bearer)).status_code == 200

        # The session ends at sign-out: the codec's cookie goes with it.
        session_cookie = browser.cookies.get("aos_codec_session", path="/codec")
        signed_out = await browser.post(
            "/console/sign-out",
            data={"csrf_token": csrf_of(await browser.get("/console/", follow_redirects=True))},
        )
        assert signed_out.status_code == 303
        assert any(
            c.startswith("aos_codec_session=") and "path=/codec" in c.lower()
            for c in signed_out.headers.get_list("set-cookie")
        )
        assert browser.cookies.get("aos_codec_session", path="/codec") is None
        replayed = await api.post(
            "/codec/decode",
            json=body,
            headers=ui | {"Cookie": f"aos_codec_session={session_cookie}"},
        )
        assert replayed.status_code == 401, replayed.text

        # A workshop's people sign in to the console too; their session decodes nothing.
        refused = await api.post(
            "/codec/decode", json=body, headers=ui | {"Cookie": f"aos_codec_session={owner.token}"}
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "/problems/forbidden"


# --- the Web UI in a browser -----------------------------------------------------------------


@dataclass(frozen=True)
class Portal:
    """The API (with its console) at `api_url`, the dev server's Web UI at `ui_url`."""

    api_url: str
    ui_url: str
    api: httpx.AsyncClient
    session_factory: async_sessionmaker[AsyncSession]


@pytest.fixture
async def portal_with_web_ui(
    database_url: str,
    tmp_path: Path,
    task_queue: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Portal]:
    """A dev server of its own with the Web UI told where the codec is (as `make dev` does),
    and the portal with payload encryption on. The API's port is chosen first: the UI's
    codec endpoint names it, and the API needs the server's client."""
    api_port, ui_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        portal_task_queue=task_queue,
        payload_keys=_keys(),
        temporal_ui_port=ui_port,  # AOS_TEMPORAL_UI_ORIGIN unset: the embedded default
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=data_converter(settings),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"{api_url}/codec"],
    )
    try:
        deps = PortalDependencies(settings, session_factory)
        app = create_app(settings, temporal=env.client)
        async with (
            portal_worker(env.client, deps, task_queue),
            serving_api(app, port=api_port),
            httpx.AsyncClient(base_url=api_url, timeout=60) as api,
        ):
            yield Portal(api_url, f"http://127.0.0.1:{ui_port}", api, session_factory)
    finally:
        await env.shutdown()


async def test_the_web_ui_shows_a_flows_input_decoded_for_a_signed_in_administrator(
    portal_with_web_ui: Portal, page: Page
) -> None:
    portal = portal_with_web_ui
    applied = await portal.api.post(
        "/registrations", json=application("Garage Codec", "135792468", APPLICANT_EMAIL)
    )
    assert applied.status_code == 201, applied.text
    flow_page = (
        f"{portal.ui_url}/namespaces/default/workflows/"
        f"{registration_workflow_id(applied.json()['registration_id'])}"
    )
    await AccountRepository(portal.session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Operator"
    )
    await sign_in(page, portal.api_url, await _administrator(portal.api))

    # The UI calls the codec, but without cookies (the cluster-level setting of the dev
    # server cannot ask for them): refused, and the input stays ciphertext.
    await page.goto(flow_page)
    could_not = page.locator("#content").get_by_text("Codec Server could not connect")
    await expect(could_not).to_be_visible(timeout=30_000)
    await expect(page.locator("#content")).not_to_contain_text(APPLICANT_EMAIL)

    # The UI's codec settings, as README "Operators" says: this browser's endpoint, with
    # cross-origin credentials.
    await page.locator("[data-testid^='data-encoder-status']").click()
    await page.get_by_text("Use my browser setting and ignore Cluster-level setting.").click()
    await page.get_by_label("Codec Server browser endpoint").fill(f"{portal.api_url}/codec")
    await page.get_by_text("Include cross-origin credentials").click()
    await screenshot(page, "web-ui-codec-settings")
    await page.get_by_role("button", name="Apply").click()

    decoding = []
    page.on(
        "response",
        lambda response: decoding.append(response.status) if "/codec/" in response.url else None,
    )
    await page.goto(flow_page)
    await expect(page.locator("#content")).to_contain_text(APPLICANT_EMAIL, timeout=30_000)
    await expect(could_not).to_have_count(0)
    await screenshot(page, "web-ui-decoded")
    assert decoding and set(decoding) == {200}, decoding
