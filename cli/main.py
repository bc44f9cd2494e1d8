"""aos: the technician's and operator's terminal client for the AOS workflow engine.

Sign in once (`aos login`), then start, watch, resume and abort ECU flashes, and look up flows.
The session token is kept in ~/.config/aos/session.json (or $AOS_CLI_CONFIG), readable by you only.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
flash = typer.Typer(no_args_is_help=True, help="ECU programming sessions.")
flows = typer.Typer(no_args_is_help=True, help="Look up flows and their histories.")
app.add_typer(flash, name="flash")
app.add_typer(flows, name="flows")
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
    """Sign in with password and TOTP; the session is bound to this machine's IP address."""
    with httpx.Client(base_url=api, timeout=30) as client:
        body = {"email": email, "password": password, "totp_code": totp}
        answer = _answer(client.post("/auth/login", json=body))
    if answer.get("status") != "signed_in":
        console.print("Enrol TOTP first (the portal shows the QR code), then sign in with --totp.")
        raise typer.Exit(1)
    path = _config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api": api, "token": answer["token"]}))
    path.chmod(0o600)
    console.print(f"Signed in until {answer['expires_at']}.")


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


def _describe(progress: dict[str, Any]) -> str:
    parts = [f"state [bold]{progress['state']}[/]"]
    if progress.get("current_ecu"):
        parts.append(f"{progress['current_ecu']}: {progress.get('current_step') or ''}")
    if progress.get("eta"):
        parts.append(f"ETA {progress['eta']}")
    if progress.get("remaining_coverage"):
        parts.append(f"purchased time left {progress['remaining_coverage']}")
    return ", ".join(parts)


@flash.command("watch")
def flash_watch(
    session_id: str,
    interval: Annotated[float, typer.Option(help="Seconds between updates")] = 0.5,
) -> None:
    """Live progress per ECU until the session ends or needs the technician (exit code 2)."""
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
        while True:
            progress = _answer(client.get(f"/programming-sessions/{session_id}"))
            for ecu in progress["ecus"]:
                if ecu["ecu"] not in tasks:
                    tasks[ecu["ecu"]] = bars.add_task(ecu["ecu"], total=ecu["bytes_total"] or 1)
                done = ecu["bytes_total"] if ecu["status"] == "done" else ecu["bytes_done"]
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
def flash_resume(session_id: str) -> None:
    """After a fault: identify the car again (same VIN) and continue where it stopped."""
    with _client() as client:
        progress = _answer(client.post(f"/programming-sessions/{session_id}/resume", json={}))
    console.print(f"Resumed: {_describe(progress)}")


@flash.command("abort")
def flash_abort(
    session_id: str, reason: Annotated[str, typer.Option(help="Why, for the report")]
) -> None:
    """Stop the session at a safe point (never during a transfer)."""
    with _client() as client:
        progress = _answer(
            client.post(f"/programming-sessions/{session_id}/abort", json={"reason": reason})
        )
    console.print(f"Abort requested: {_describe(progress)}")


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
    table = Table("workflow", "type", "status", "state", "VIN", "started")
    for flow in page["flows"]:
        table.add_row(
            flow["workflow_id"],
            flow["type"],
            flow["status"],
            flow["state"] or "",
            flow["vin"] or "",
            flow["started_at"] or "",
        )
    console.print(table)


@flows.command("history")
def flows_history(workflow_id: str) -> None:
    """A flow's history as a timeline."""
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


if __name__ == "__main__":
    app()
