"""`aos flash`: start a programming session, show its plan, watch it live, resume it after a
fault, abort it."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from cli.portal_client import console, read_answer, signed_in_client
from cli.session_ids import SessionId, session_id_from

flash = typer.Typer(no_args_is_help=True, help="ECU programming sessions.")

ENDED = {"completed", "aborted", "refused"}
EXIT_NEEDS_TECHNICIAN = 2


@flash.command("start")
def flash_start(
    station: Annotated[str, typer.Option(help="Station id, e.g. demo-1")],
    vin: Annotated[str, typer.Option(help="The car's VIN (checked against the car)")],
    package: Annotated[str, typer.Option(help="Flash package id")],
) -> None:
    """Start programming the car at a station."""
    with signed_in_client() as client:
        answer = read_answer(
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
    session_id = session_id_from(session_id)
    with signed_in_client() as client:
        progress = read_answer(client.get(f"/programming-sessions/{session_id}"))
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
    session_id = session_id_from(session_id)
    with (
        signed_in_client() as client,
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
            progress = read_answer(client.get(f"/programming-sessions/{session_id}"))
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
    session_id = session_id_from(session_id)
    with signed_in_client() as client:
        progress = read_answer(client.post(f"/programming-sessions/{session_id}/resume", json={}))
    console.print(f"Resumed: {_describe(progress)}")


@flash.command("abort")
def flash_abort(
    session_id: SessionId, reason: Annotated[str, typer.Option(help="Why, for the report")]
) -> None:
    """Stop the session at a safe point (never during a transfer)."""
    session_id = session_id_from(session_id)
    with signed_in_client() as client:
        progress = read_answer(
            client.post(f"/programming-sessions/{session_id}/abort", json={"reason": reason})
        )
    console.print(f"Aborted: {_describe(progress)}")
