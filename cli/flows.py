"""`aos flows`: look up flows (of every type) and read a flow's history as a timeline."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.measure import Measurement
from rich.table import Table

from cli.portal_client import console, read_answer, signed_in_client
from cli.session_ids import workflow_id_from

flows = typer.Typer(no_args_is_help=True, help="Look up flows and their histories.")


@flows.command("list")
def flows_list(
    vin: Annotated[str | None, typer.Option()] = None,
    station: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Flows of your workshop (all, for administrators), newest first."""
    params = {k: v for k, v in {"vin": vin, "station": station, "state": state}.items() if v}
    with signed_in_client() as client:
        page = read_answer(client.get("/flows", params=params))
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
    workflow_id = workflow_id_from(workflow_id)
    with signed_in_client() as client:
        timeline = read_answer(client.get(f"/flows/{workflow_id}/history"))
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
