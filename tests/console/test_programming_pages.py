"""The ECU programming pages in a real browser: a technician starts a flash of `demo-1`'s
simulated car, watches it live (Server-Sent Events), the cable is pulled, the page shows the
banner with Resume enabled, the technician plugs it back and resumes from the page, and the
session completes; then the report and the frame log."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from contracts.programming import (
    PROGRAMMING_SESSION_WORKFLOW,
    ProgrammingSessionInput,
    programming_workflow_id,
)
from domain.accounts import Role
from hw.sim.demo_package import build_demo_package
from testkit.factories import SignedIn, create_workshop
from testkit.factories import sign_in as signed_in_directly
from testkit.portal_api import buy_time, register_station
from tests.console.conftest import ConsoleServer
from tests.console.helpers import api_token, screenshot, sign_in, workshop_through_api
from tests.console.test_console_fits_a_phone import layout_faults
from tests.console.test_console_in_dutch import ENGLISH_UI_TEXTS, english_words_in
from tests.programming.conftest import running_station, session_needing_technician

pytestmark = pytest.mark.e2e

PACKAGE = "console-demo-1.0.0"
STATION = "demo-1"  # the embedded mode's station, on its simulated car


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _event(lines: AsyncIterator[str]) -> str:
    """The next event of a `text/event-stream` (its lines up to the blank one)."""
    event: list[str] = []
    async for line in lines:
        if not line:
            return "\n".join(event)
        event.append(line)
    raise AssertionError(f"the stream ended inside an event: {event}")


async def _until_the_end(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


async def _ecu_percent(page: Page, ecu: str) -> int:
    value = await page.locator(f'tr[data-ecu="{ecu}"] progress').evaluate("node => node.value")
    return int(value)


async def _api_progress(api: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> dict:
    response = await api.get(f"/programming-sessions/{session_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def test_a_flash_watched_live_through_a_pulled_cable_then_resumed_from_the_page(
    console: ConsoleServer, dev_env: WorkflowEnvironment, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    headers = await api_token(console.api, account)
    owner = SignedIn("owner", account.workshop_id, headers["Authorization"][7:], "127.0.0.1")
    await buy_time(console.api, owner)
    await register_station(console.api, owner, STATION)
    package = build_demo_package(
        console.settings.packages_dir / PACKAGE,
        image_size_per_ecu=192 * 1024,
        ecus=("DME", "EGS"),
        version="9.1.0",
        package_id=PACKAGE,
    )

    async with running_station(dev_env.client, console.settings, station_id=STATION) as station:
        car, dme = station.vehicle, station.vehicle.ecu("DME")
        await sign_in(page, console.base_url, account)
        await page.goto(f"{console.base_url}/console/programming/")
        await expect(page.get_by_label("Station")).to_contain_text("online")
        await page.get_by_label("Station").select_option(STATION)
        await page.get_by_label("Flash package").select_option(PACKAGE)
        vin_field = page.get_by_label("Vehicle identification number (VIN)")
        await vin_field.fill("WBA8E51O5")  # a typo: refused next to the field, kept as typed
        await page.get_by_role("button", name="Start programming").click()
        await expect(page.locator("#f-vin-error")).to_contain_text("This is not a valid VIN.")
        await expect(page.locator("#error-summary")).to_contain_text("This is not a valid VIN.")
        await expect(vin_field).to_have_value("WBA8E51O5")
        await expect(page.get_by_label("Flash package")).to_have_value(PACKAGE)
        await vin_field.fill(car.vin)
        await screenshot(page, "programming-start")
        await page.get_by_role("button", name="Start programming").click()
        await expect(page).to_have_url(re.compile(r"/console/programming/[0-9a-f-]{36}$"))
        session_id = page.url.rsplit("/", 1)[1]

        for _ in range(6000):  # the DME's first segment is under way
            if dme.download is not None and dme.download.blocks >= 20:
                break
            await asyncio.sleep(0.005)
        assert dme.download is not None and dme.download.blocks >= 20
        car.faults.disconnect()  # the cable is pulled mid-segment

        # Live: the page counts the DME's bytes inside the running segment (its heartbeat),
        # which the workflow's own progress counts only once the segment is done; the API
        # serves the same count.
        await expect(page.locator("#session-state")).to_have_text("Programming")
        for _ in range(100):
            if await _ecu_percent(page, "DME") > 0:
                break
            await asyncio.sleep(0.1)
        # The cable is out, so the count stands still: the page (its stream asks every half
        # second) comes to show what the API answers.
        for _ in range(50):
            shown = await _ecu_percent(page, "DME")
            workflow_view = await _api_progress(console.api, headers, session_id)
            dme_in_api = next(e for e in workflow_view["ecus"] if e["ecu"] == "DME")
            if shown == dme_in_api["percent"]:
                break
            await asyncio.sleep(0.2)
        assert shown > 0 and dme_in_api["bytes_done"] == 0, (shown, workflow_view)
        assert dme_in_api["percent"] == shown and dme_in_api["bytes_confirmed"] > 0, workflow_view
        await expect(page.locator('tr[data-ecu="DME"] [data-cell="status_label"]')).to_have_text(
            "Programming"
        )
        await expect(page.locator("#resume-button")).to_be_disabled()
        await screenshot(page, "programming-live")

        # The retries run out: the banner names the reason, and the session accepts a resume
        # and an abort, and leaving out the EGS that has not started.
        banner = page.locator("#technician-banner")
        await expect(banner).to_be_visible(timeout=180_000)
        await expect(banner.locator('[data-live="reason"]')).not_to_be_empty()
        await expect(page.locator("#resume-button")).to_be_enabled()
        await expect(page.locator("#abort-button")).to_be_enabled()
        await expect(page.locator("#skip-button")).to_be_enabled()
        await expect(page.locator("#f-ecu")).to_have_value("EGS")
        await screenshot(page, "programming-needs-technician")

        car.faults.restore_link()  # the technician plugs the cable back in
        await page.locator("#resume-button").click()
        await expect(page.locator("#session-state")).to_have_text("Completed", timeout=120_000)
        await expect(banner).to_be_hidden()
        await expect(page.locator("#session-ended")).to_be_visible()
        await expect(page.locator('tr[data-ecu="EGS"] [data-cell="status_label"]')).to_have_text(
            "Done"
        )
        assert await _ecu_percent(page, "DME") == 100
        await screenshot(page, "programming-completed")
        # An ended session's stream sends its last state once and closes.
        stream = await page.request.get(
            f"{console.base_url}/console/programming/{session_id}/events"
        )
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = (await stream.text()).strip().split("\n\n")
        assert len(events) == 1 and events[0].startswith("event: progress\ndata: ")
        last = json.loads(events[0].split("data: ", 1)[1])
        assert last["final"] and last["state"] == "completed"
        assert last["actions"] == {"resume": False, "abort": False, "skippable_ecus": []}

        await page.get_by_role("link", name="Report", exact=True).click()
        await expect(page.locator("#report-state")).to_have_text("Completed")
        await screenshot(page, "programming-report")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Download the frame log (ASC)").click()
        download = await downloading.value
        assert download.suggested_filename == f"session-{session_id}.asc"
        frames = (await download.path()).read_text()
        assert "Tx" in frames and "Rx" in frames  # python-can ASC frame lines
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Signed programming report (JSON)").click()
        signed = json.loads((await (await downloading.value).path()).read_text())
        assert signed["report"]["session_id"] == session_id
        assert signed["report"]["audit"]["verdict"] == "conforms"
        # the pulled cable in the report: the DME's first segment retried, then failed with
        # its cause, then completed after the technician's resume
        dme = signed["report"]["ecus"][0]
        assert dme["ecu"] == "DME" and dme["retries"] and dme["retries"][0]["attempt"] > 1
        # the retry's cause is the car's fault, as the station raised it (a failure past the
        # server's 4 KB for an activity's last failure would read "Failure exceeds size limit")
        retry = dme["retries"][0]
        assert retry["cause_type"] in {"LinkDisconnected", "BusTimeout"}, retry
        assert "DME " in retry["cause"] and "size limit" not in retry["cause"], retry
        outcomes = [(s["segment"], s["outcome"]) for s in dme["steps"]]
        assert outcomes[:2] == [(0, "failed"), (0, "completed")], outcomes
        assert dme["steps"][0]["failure"]
        # the DME's segment cut by the pulled cable and resumed at its block: the bytes the
        # car accepted are the package's, each once
        for ecu, in_package in zip(signed["report"]["ecus"], package.ecus, strict=True):
            sent = [segment["sha256"] for segment in ecu["segments"]]
            assert sent == [segment.sha256 for segment in in_package.segments], ecu["ecu"]
        pdf = await page.request.get(
            f"{console.base_url}/console/programming/{session_id}/signed-report.pdf"
        )
        assert pdf.headers["content-type"] == "application/pdf"
        assert (await pdf.body()).startswith(b"%PDF")


async def test_another_workshops_session_is_the_not_found_page(
    console: ConsoleServer, dev_env: WorkflowEnvironment, page: Page
) -> None:
    """The session page, its report, its event stream, its frame log and its steering forms
    answer for another workshop's session exactly as for an unknown one."""
    account = await workshop_through_api(console.api, console.session_factory)
    other_workshop = await create_workshop(console.session_factory, "Garage Elders")
    foreign = str(uuid.uuid4())
    # Another workshop's session, waiting for a portal worker that never comes.
    handle = await dev_env.client.start_workflow(
        PROGRAMMING_SESSION_WORKFLOW,
        ProgrammingSessionInput(
            session_id=foreign,
            workshop_id=other_workshop,
            station_id="bay-9",
            station_task_queue="station-bay-9",
            vin="WBA8E5105FK731548",
            package_id=PACKAGE,
            technician_id="someone",
        ),
        id=programming_workflow_id(foreign),
        task_queue=f"nobody-{foreign}",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(search_attributes.WORKSHOP_ID, other_workshop)]
        ),
    )
    try:
        await sign_in(page, console.base_url, account)
        unknown = str(uuid.uuid4())
        for session_id in (foreign, unknown):
            paths = ("", "/report", "/events", "/frame-log", "/signed-report.json")
            for path in (*paths, "/signed-report.pdf"):
                url = f"{console.base_url}/console/programming/{session_id}{path}"
                response = await page.goto(url)
                assert response is not None and response.status == 404, url
                await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
            csrf = await page.locator("form.sign-out input[name=csrf_token]").input_value()
            resumed = await page.request.post(
                f"{console.base_url}/console/programming/{session_id}/resume",
                form={"csrf_token": csrf},
            )
            assert resumed.status == 404
            forged = await page.request.post(
                f"{console.base_url}/console/programming/{session_id}/abort",
                form={"csrf_token": "forged", "reason": "x"},
            )
            assert forged.status == 403  # the CSRF check comes before anything else
    finally:
        await handle.terminate("test over")


async def test_the_live_stream_ends_within_seconds_of_signing_out(
    console: ConsoleServer, dev_env: WorkflowEnvironment, page: Page
) -> None:
    """The event stream checks the sign-in session while it runs, not only when it opened: a
    session signed out in another tab stops getting progress, and its page goes to sign in."""
    workshop_id = await create_workshop(console.session_factory)
    owner = await signed_in_directly(console.session_factory, Role.WORKSHOP_OWNER, workshop_id)
    package_id = "console-sign-out-1.0.0"
    async with session_needing_technician(
        console.api, console.settings, dev_env.client, owner, package_id
    ) as started:
        session_id = started["session_id"]
        live_page = f"/console/programming/{session_id}"
        # The owner's session in the browser and in a second tab (an httpx client), which
        # signs out while both follow the stream.
        await page.context.add_cookies(
            [{"name": "aos_session", "value": owner.token, "domain": "127.0.0.1", "path": "/"}]
        )
        async with page.expect_response(lambda answer: answer.url.endswith("/events")):
            await page.goto(f"{console.base_url}{live_page}")
        await expect(page.locator("#session-state")).to_have_text("Needs the technician")
        async with httpx.AsyncClient(
            base_url=console.base_url, cookies={"aos_session": owner.token}, timeout=30
        ) as tab:
            csrf = CSRF.search((await tab.get(live_page)).text)
            assert csrf
            async with tab.stream("GET", f"{live_page}/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                assert (await _event(lines)).startswith("event: progress\n")
                await asyncio.sleep(3)  # still open: the session waits for the technician
                signed_out = await tab.post("/console/sign-out", data={"csrf_token": csrf[1]})
                assert signed_out.status_code == 303, signed_out.text
                since = asyncio.get_running_loop().time()
                rest = await asyncio.wait_for(_until_the_end(lines), timeout=15)
                took = asyncio.get_running_loop().time() - since
        # Within the check's two seconds, a poll and the time to answer; its last word says
        # where to sign in again (and back to this page).
        assert took < 5, took
        sign_in_again = f"/console/sign-in?reason=ended&next={live_page}"
        assert rest[-3:] == [
            "event: signed-out",
            "data: " + json.dumps({"location": sign_in_again}, separators=(",", ":")),
            "",
        ], rest
        await expect(page).to_have_url(f"{console.base_url}{sign_in_again}", timeout=5_000)
        await expect(page.get_by_text("Your session has ended. Sign in again.")).to_be_visible()


async def test_the_plan_on_the_session_page_in_english_and_dutch_on_a_phone(
    console: ConsoleServer, dev_env: WorkflowEnvironment, page: Page, dutch_page: Page
) -> None:
    """The session's plan, as the API serves it, on the page: its lane with the ECUs in order,
    whether lanes run in parallel and how many at once, and the estimate; in English and in
    Dutch (no English left), and on a 390 px phone without sideways scrolling."""
    workshop_id = await create_workshop(console.session_factory)
    owner = await signed_in_directly(console.session_factory, Role.WORKSHOP_OWNER, workshop_id)
    async with session_needing_technician(
        console.api, console.settings, dev_env.client, owner, "console-plan-1.0.0"
    ) as started:
        session_id = started["session_id"]
        plan = (await _api_progress(console.api, owner.headers, session_id))["plan"]
        # The simulated car is on a CAN bus: one lane, DME then EGS; no timing figures, so
        # each ECU ~20.4 s from the default throughput.
        assert [lane["ecus"] for lane in plan["lanes"]] == [["DME", "EGS"]]
        seconds = round(plan["estimated_seconds"])
        assert 40 <= seconds <= 42, plan
        live_page = f"{console.base_url}/console/programming/{session_id}"
        shown = {}
        for language, browser_page in (("en", page), ("nl", dutch_page)):
            await browser_page.context.add_cookies(
                [{"name": "aos_session", "value": owner.token, "domain": "127.0.0.1", "path": "/"}]
            )
            await browser_page.goto(live_page)
            lanes = browser_page.locator("#plan-lanes li")
            shown[language] = (
                await lanes.all_inner_texts(),
                await browser_page.locator("#plan-parallel").inner_text(),
                await browser_page.locator("#plan-estimate").inner_text(),
            )
            faults = await layout_faults(
                browser_page, console.base_url, [f"/console/programming/{session_id}"], language
            )
            assert faults == []
        assert shown["en"] == (
            ["Lane 1: DME → EGS"],
            "Lanes in parallel, at most 4 at once",
            f"{seconds} seconds",
        )
        assert shown["nl"] == (
            ["Baan 1: DME → EGS"],
            "Banen parallel, hoogstens 4 tegelijk",
            f"{seconds} seconden",
        )
        await expect(page.get_by_role("heading", name="Programming plan")).to_be_visible()
        await dutch_page.goto(live_page)
        await expect(dutch_page.get_by_role("heading", name="Programmeerplan")).to_be_visible()
        body = await dutch_page.locator("body").inner_text()
        assert english_words_in(body, ENGLISH_UI_TEXTS) == []
