"""aos: the technician's and operator's terminal client for the AOS workflow engine.

Sign in once (`aos login`), then start, watch, resume and abort ECU flashes, and look up flows.
The session token is kept in ~/.config/aos/session.json (or $AOS_CLI_CONFIG), readable by you only.
A programming session is named by its id as `aos flash start` prints it or by its workflow id
(`programming-<id>`, as `aos flows list` shows it): every command takes either.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import segno
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from contracts.programming import programming_workflow_id
from domain.report_verification import public_keys_from_json, verify_report

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
flash = typer.Typer(no_args_is_help=True, help="ECU programming sessions.")
flows = typer.Typer(no_args_is_help=True, help="Look up flows and their histories.")
app.add_typer(flash, name="flash")
app.add_typer(flows, name="flows")
stations = typer.Typer(no_args_is_help=True, help="Your workshop's stations (owners).")
app.add_typer(stations, name="stations")
report = typer.Typer(no_args_is_help=True, help="Signed programming reports.")
app.add_typer(report, name="report")
console = Console()

ENDED = {"completed", "aborted", "refused"}
EXIT_NEEDS_TECHNICIAN = 2


def _config_path() -> Path:
    return Path(os.environ.get("AOS_CLI_CONFIG", Path.home() / ".config" / "aos" / "session.json"))


def _session() -> dict[str, str]:
    path = _config_path()
    if not path.exists():
        console.print("[red]Not signed in.[/] Run [bold]aos login[/] first.")
        raise typer.Exit(1)
    data: dict[str, str] = json.loads(path.read_text())
    return data


def _client() -> httpx.Client:
    session = _session()
    return httpx.Client(
        base_url=session["api"],
        headers={"Authorization": f"Bearer {session['token']}"},
        timeout=30,
    )


def _answer(response: httpx.Response) -> Any:
    """The JSON body, or a clear message from the problem document and exit 1."""
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
    except ValueError:
        problem = {"title": response.reason_phrase, "detail": response.text[:300]}
    field = f" ([bold]{problem['field']}[/])" if problem.get("field") else ""
    console.print(f"[red]{problem.get('title', 'Error')}[/]{field}: {problem.get('detail') or ''}")
    if problem.get("type") in ("/problems/session-expired", "/problems/session-ip-changed"):
        console.print("Sign in again with [bold]aos login[/].")
    if problem.get("purchase"):
        console.print(f"Buy time: POST {problem['purchase']}")
    raise typer.Exit(1)


@app.command()
def login(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    totp: Annotated[str | None, typer.Option(help="Code from the authenticator app")] = None,
    api: Annotated[
        str, typer.Option(envvar="AOS_API", help="API base URL")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Sign in with password and TOTP; the session is bound to this machine's IP address.

    Without --totp the code is asked for when the account needs it. The first sign-in enrols
    the authenticator app: the QR code and the secret are shown here, then a code from the app
    confirms the enrolment (and the recovery codes are shown, once)."""
    with httpx.Client(base_url=api, timeout=30) as client:
        body = {"email": email, "password": password, "totp_code": totp}
        response = client.post("/auth/login", json=body)
        if _problem_type(response) == "/problems/totp-required":
            body["totp_code"] = typer.prompt(TOTP_PROMPT)
            response = client.post("/auth/login", json=body)
        answer = _answer(response)
        if answer.get("status") == "totp_enrolment_required":
            answer = _enrol_totp(client, answer)
    path = _config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api": api, "token": answer["token"]}))
    path.chmod(0o600)
    if answer.get("recovery_codes"):
        console.print(
            "Recovery codes, each works once instead of a TOTP code; keep them safe, "
            "they are not shown again:"
        )
        for code in answer["recovery_codes"]:
            console.print(f"  {code}", highlight=False)
    console.print(f"Signed in until {answer['expires_at']}.")


TOTP_PROMPT = "Code from your authenticator app"
ENROLMENT_CODE_TRIES = 3


def _problem_type(response: httpx.Response) -> str | None:
    if response.is_success:
        return None
    try:
        problem = response.json()
    except ValueError:
        return None
    return problem.get("type") if isinstance(problem, dict) else None


def _enrol_totp(client: httpx.Client, enrolment: dict[str, Any]) -> Any:
    """Show the QR code and the secret of a first sign-in, then confirm a code from the app;
    the answer is the signed-in session (`POST /auth/totp/confirm`)."""
    qr_code = io.StringIO()
    segno.make(enrolment["provisioning_uri"], error="m").terminal(out=qr_code, compact=True)
    console.print("Enrol your authenticator app: scan this QR code")
    typer.echo(qr_code.getvalue(), nl=False)  # as segno drew it: no markup, no wrapping
    console.print(f"or type in the secret: [bold]{enrolment['secret']}[/]", highlight=False)
    for attempt in range(1, ENROLMENT_CODE_TRIES + 1):
        code = typer.prompt(TOTP_PROMPT)
        response = client.post(
            "/auth/totp/confirm",
            json={"enrolment_token": enrolment["enrolment_token"], "code": code},
        )
        if (
            _problem_type(response) != "/problems/invalid-credentials"
            or attempt == ENROLMENT_CODE_TRIES
        ):
            return _answer(response)
        console.print("[red]That code is wrong.[/] Enter the one the app shows now.")
    raise AssertionError("unreachable")


@flash.command("start")
def flash_start(
    station: Annotated[str, typer.Option(help="Station id, e.g. demo-1")],
    vin: Annotated[str, typer.Option(help="The car's VIN (checked against the car)")],
    package: Annotated[str, typer.Option(help="Flash package id")],
) -> None:
    """Start programming the car at a station."""
    with _client() as client:
        answer = _answer(
            client.post(
                "/programming-sessions",
                json={"station_id": station, "vin": vin, "package_id": package},
            )
        )
    console.print(f"Session [bold]{answer['session_id']}[/] started. Watch it: aos flash watch ID")
    print(answer["session_id"])


SESSION_WORKFLOW_PREFIX = programming_workflow_id("")
SessionId = Annotated[
    str,
    typer.Argument(
        help="The session's id as `aos flash start` prints it, or its workflow id "
        "(programming-<id>) as `aos flows list` shows it"
    ),
]


def _session_id(given: str) -> str:
    """The session's id, from either form a user may have at hand."""
    return given.removeprefix(SESSION_WORKFLOW_PREFIX)


def _workflow_id(given: str) -> str:
    """A flow's workflow id; a bare session id (what `aos flash start` prints) names its
    session's flow. Workflow ids always start with their flow's name, so this is unambiguous."""
    try:
        uuid.UUID(given)
    except ValueError:
        return given
    return programming_workflow_id(given)


def _describe(progress: dict[str, Any]) -> str:
    parts = [f"state [bold]{progress['state']}[/]"]
    if progress.get("current_ecu"):
        parts.append(f"{progress['current_ecu']}: {progress.get('current_step') or ''}")
    # Whole seconds in the API; shown as H:MM:SS (with days when longer).
    if progress.get("eta_seconds") is not None:
        parts.append(f"ETA {timedelta(seconds=progress['eta_seconds'])}")
    if progress.get("remaining_seconds") is not None:
        parts.append(f"purchased time left {timedelta(seconds=progress['remaining_seconds'])}")
    return ", ".join(parts)


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    """The plan as the technician reads it: how the lanes run, each lane's ECUs in order
    (with each ECU's estimate and where it comes from), and the whole estimate."""
    estimates = plan.get("estimated_ecu_seconds") or {}
    from_ecu = set(plan.get("timing_from_ecu") or [])
    how = (
        f"lanes in parallel, at most {plan['max_parallel']} at once"
        if plan["parallel"]
        else "one ECU after another"
    )
    lines = [f"Plan: {len(plan['lanes'])} lane(s), {how}"]
    for number, lane in enumerate(plan["lanes"], start=1):
        ecus = []
        for ecu in lane["ecus"]:
            if ecu in estimates:
                source = "the ECU's figures" if ecu in from_ecu else "throughput"
                ecus.append(f"{ecu} (~{round(estimates[ecu])} s, {source})")
            else:
                ecus.append(ecu)
        alone = " (alone)" if lane.get("alone") else ""
        lines.append(f"  lane {number}{alone}: {' -> '.join(ecus)}")
    estimated = round(plan["estimated_seconds"])
    lines.append(f"Estimated duration: {timedelta(seconds=estimated)} ({estimated} s)")
    return lines


@flash.command("plan")
def flash_plan(session_id: SessionId) -> None:
    """The session's programming plan: lanes, their ECUs in order, and the estimate (exit
    code 1 while the car is still being identified: there is no plan yet)."""
    session_id = _session_id(session_id)
    with _client() as client:
        progress = _answer(client.get(f"/programming-sessions/{session_id}"))
    if progress.get("plan") is None:
        console.print(f"No plan yet: {_describe(progress)}", highlight=False)
        raise typer.Exit(1)
    for line in _plan_lines(progress["plan"]):
        console.print(line, highlight=False, markup=False)
    console.print(_describe(progress), highlight=False)


@flash.command("watch")
def flash_watch(
    session_id: SessionId,
    interval: Annotated[float, typer.Option(help="Seconds between updates")] = 0.5,
) -> None:
    """Live progress per ECU until the session ends or needs the technician (exit code 2)."""
    session_id = _session_id(session_id)
    with (
        _client() as client,
        Progress(
            TextColumn("{task.description:>6}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=False,
        ) as bars,
    ):
        tasks: dict[str, Any] = {}
        plan_shown = False
        while True:
            progress = _answer(client.get(f"/programming-sessions/{session_id}"))
            if progress.get("plan") is not None and not plan_shown:
                plan_shown = True  # once, as soon as it is made (before the transfer starts)
                for line in _plan_lines(progress["plan"]):
                    bars.console.print(line, highlight=False, markup=False)
            for ecu in progress["ecus"]:
                if ecu["ecu"] not in tasks:
                    tasks[ecu["ecu"]] = bars.add_task(ecu["ecu"], total=ecu["bytes_total"] or 1)
                # The API's count, the running segment's confirmed blocks included: the bar
                # moves during a segment, not only when one has finished.
                done = ecu["bytes_total"] if ecu["status"] == "done" else ecu["bytes_confirmed"]
                bars.update(tasks[ecu["ecu"]], completed=done)
            if progress["state"] in ENDED | {"needs_technician", "waiting_for_time"}:
                bars.console.print(_describe(progress), highlight=False)
            if progress["state"] in ENDED:
                break
            if progress["state"] == "needs_technician":
                console.print(f"[yellow]Needs the technician:[/] {progress.get('reason')}")
                console.print(f"Fix the cause, then: aos flash resume {session_id}")
                raise typer.Exit(EXIT_NEEDS_TECHNICIAN)
            time.sleep(interval)
    if progress["state"] != "completed":
        console.print(f"Session ended {progress['state']}: {progress.get('reason') or ''}")
        raise typer.Exit(1)
    console.print("[green]All ECUs programmed.[/]")


@flash.command("resume")
def flash_resume(session_id: SessionId) -> None:
    """After a fault: identify the car again (same VIN) and continue where it stopped."""
    session_id = _session_id(session_id)
    with _client() as client:
        progress = _answer(client.post(f"/programming-sessions/{session_id}/resume", json={}))
    console.print(f"Resumed: {_describe(progress)}")


@flash.command("abort")
def flash_abort(
    session_id: SessionId, reason: Annotated[str, typer.Option(help="Why, for the report")]
) -> None:
    """Stop the session at a safe point (never during a transfer)."""
    session_id = _session_id(session_id)
    with _client() as client:
        progress = _answer(
            client.post(f"/programming-sessions/{session_id}/abort", json={"reason": reason})
        )
    console.print(f"Aborted: {_describe(progress)}")


@flows.command("list")
def flows_list(
    vin: Annotated[str | None, typer.Option()] = None,
    station: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Flows of your workshop (all, for administrators), newest first."""
    params = {k: v for k, v in {"vin": vin, "station": station, "state": state}.items() if v}
    with _client() as client:
        page = _answer(client.get("/flows", params=params))
    rows = [
        (
            flow["workflow_id"],
            flow["type"],
            flow["status"],
            flow["state"] or "",
            flow["vin"] or "",
            flow["started_at"] or "",
        )
        for flow in page["flows"]
    ]
    table = Table("workflow", "type", "status", "state", "VIN", "started")
    for row in rows:
        table.add_row(*row)
    unbounded = console.options.update_width(10**6)
    if Measurement.get(console, unbounded, table).maximum <= console.width:  # nothing is cut
        console.print(table)
        return
    # Too narrow for a table whose cells stay whole: ids are never cut, so each flow gets its
    # workflow id on a line of its own and the rest below it.
    for workflow_id, *facts in rows:
        console.print(f"[bold]{workflow_id}[/]", soft_wrap=True, highlight=False)
        console.print("  " + " · ".join(fact for fact in facts if fact), highlight=False)


@flows.command("history")
def flows_history(
    workflow_id: Annotated[
        str,
        typer.Argument(
            help="The flow's workflow id (as `aos flows list` shows it), or a programming "
            "session's id as `aos flash start` prints it"
        ),
    ],
) -> None:
    """A flow's history as a timeline."""
    workflow_id = _workflow_id(workflow_id)
    with _client() as client:
        timeline = _answer(client.get(f"/flows/{workflow_id}/history"))
    table = Table("#", "time", "event", "name", "attempt", "failure")
    for event in timeline["events"]:
        table.add_row(
            str(event["event_id"]),
            event["time"],
            event["event"],
            event["name"] or "",
            str(event["attempt"] or ""),
            event["failure"] or "",
        )
    console.print(table)


def _own_workshop(client: httpx.Client) -> str:
    workshop_id = _answer(client.get("/me"))["workshop_id"]
    if not workshop_id:
        console.print("[red]This account has no workshop.[/]")
        raise typer.Exit(1)
    return str(workshop_id)


@stations.command("list")
def stations_list() -> None:
    """Your workshop's stations, and whether each one's worker polls (online)."""
    with _client() as client:
        found = _answer(client.get("/stations"))
    table = Table("station", "name", "online", "last seen")
    for station in found:
        online = {True: "yes", False: "no", None: "?"}[station["online"]]
        table.add_row(station["station_id"], station["name"], online, station["last_seen"] or "")
    console.print(table)


@stations.command("claim")
def stations_claim(
    station_id: str,
    name: Annotated[str, typer.Option(help="What the workshop calls it, e.g. Bay 1")],
    never_seen: Annotated[
        bool,
        typer.Option(
            "--never-seen",
            help="Claim it although its worker has not been seen polling (a new station)",
        ),
    ] = False,
) -> None:
    """Claim a station for your workshop (a provisioned one whose worker runs, or a new one)."""
    with _client() as client:
        body = {"station_id": station_id, "name": name, "confirm_never_seen": never_seen}
        response = client.post(f"/workshops/{_own_workshop(client)}/stations", json=body)
        if response.status_code == 409 and response.json().get("type") == (
            "/problems/station-never-seen"
        ):
            console.print(
                f"[red]No worker of station {station_id} has been seen polling.[/] Check the id; "
                "for a new station whose worker does not run yet, add --never-seen."
            )
            raise typer.Exit(1)
        station = _answer(response)
    console.print(f"Station [bold]{station['station_id']}[/] ({station['name']}) is yours.")


@stations.command("rename")
def stations_rename(station_id: str, name: str) -> None:
    """Rename one of your workshop's stations."""
    with _client() as client:
        path = f"/workshops/{_own_workshop(client)}/stations/{station_id}"
        station = _answer(client.patch(path, json={"name": name}))
    console.print(f"Station [bold]{station['station_id']}[/] is now {station['name']}.")


@stations.command("release")
def stations_release(station_id: str) -> None:
    """Release one of your workshop's stations: its token stops working at once."""
    with _client() as client:
        response = client.delete(f"/workshops/{_own_workshop(client)}/stations/{station_id}")
        if response.status_code != 204:
            _answer(response)
    console.print(f"Station [bold]{station_id}[/] released; its token no longer works.")


@report.command("get")
def report_get(
    session_id: SessionId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: stdout)")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="The printable PDF instead of JSON")] = False,
) -> None:
    """Download the signed report of an ended session, byte for byte as the portal signed it."""
    suffix = ".pdf" if pdf else ""
    with _client() as client:
        response = client.get(f"/programming-sessions/{_session_id(session_id)}/report{suffix}")
        if not response.is_success:
            _answer(response)
    if output is None:
        if pdf:
            console.print("[red]A PDF goes to a file:[/] add --output FILE.pdf")
            raise typer.Exit(1)
        typer.echo(response.content.decode(), nl=False)
        return
    output.write_bytes(response.content)
    console.print(f"Report written to {output}.")


@report.command("verify")
def report_verify(
    file: Annotated[Path, typer.Argument(help="The signed report (JSON), as `aos report get`")],
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="The portal's public keys, as GET /programming-report-keys lists them; "
            "without it they are fetched from the signed-in portal",
        ),
    ] = None,
) -> None:
    """Verify a signed report offline with the portal's public key(s): names any field that was
    changed; exits 1 when the report does not verify."""
    if keys is not None:
        listed = keys.read_bytes()
    else:
        with httpx.Client(base_url=_session()["api"], timeout=30) as client:
            response = client.get("/programming-report-keys")
            _answer(response)
            listed = response.content
    outcome = verify_report(file.read_bytes(), public_keys_from_json(listed))
    if outcome.valid:
        console.print(f"[green]Valid:[/] signed with key {outcome.key_id}, no field changed.")
        return
    console.print("[red]The report does not verify.[/]")
    for field in outcome.tampered:
        console.print(f"  tampered field: {field}", highlight=False)
    for problem in outcome.problems:
        console.print(f"  {problem}", highlight=False)
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
