"""An error page keeps the console's layout: a signed-in person still has the menu and the
sign-out button on the 404 and 403 pages. The site answers for its icon."""

from __future__ import annotations

import httpx
import pytest

from tests.console.conftest import ConsoleServer
from tests.console.helpers import console_sign_in, workshop_through_api

pytestmark = pytest.mark.e2e


async def test_the_not_found_and_forbidden_pages_keep_the_menu_and_sign_out(
    console: ConsoleServer,
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    async with httpx.AsyncClient(base_url=console.base_url, timeout=30) as browser:
        await console_sign_in(browser, account)
        for path, status in (
            ("/console/no-such-page", 404),  # no route: no dependency read the session
            ("/console/operators/", 403),  # a workshop owner on the operators' pages
        ):
            page = await browser.get(path)
            assert page.status_code == status, (path, page.text)
            assert 'class="main-nav"' in page.text, path
            assert 'action="/console/sign-out"' in page.text, path

    anonymous = await console.api.get("/console/no-such-page")
    assert anonymous.status_code == 404 and 'action="/console/sign-out"' not in anonymous.text


async def test_the_site_has_an_icon(console: ConsoleServer) -> None:
    icon = await console.api.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/vnd.microsoft.icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    page = await console.api.get("/console/sign-in")
    assert 'rel="icon" href="/console/static/favicon.svg"' in page.text
    svg = await console.api.get("/console/static/favicon.svg")
    assert svg.status_code == 200 and svg.text.startswith("<svg")
