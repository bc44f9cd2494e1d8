"""`aos stations`: an owner lists, claims, renames and releases the workshop's stations."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.table import Table

from cli.portal_client import console, read_answer, signed_in_client

stations = typer.Typer(no_args_is_help=True, help="Your workshop's stations (owners).")


def _own_workshop(client: httpx.Client) -> str:
    workshop_id = read_answer(client.get("/me"))["workshop_id"]
    if not workshop_id:
        console.print("[red]This account has no workshop.[/]")
        raise typer.Exit(1)
    return str(workshop_id)


@stations.command("list")
def stations_list() -> None:
    """Your workshop's stations, and whether each one's worker polls (online)."""
    with signed_in_client() as client:
        found = read_answer(client.get("/stations"))
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
    with signed_in_client() as client:
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
        station = read_answer(response)
    console.print(f"Station [bold]{station['station_id']}[/] ({station['name']}) is yours.")


@stations.command("rename")
def stations_rename(station_id: str, name: str) -> None:
    """Rename one of your workshop's stations."""
    with signed_in_client() as client:
        path = f"/workshops/{_own_workshop(client)}/stations/{station_id}"
        station = read_answer(client.patch(path, json={"name": name}))
    console.print(f"Station [bold]{station['station_id']}[/] is now {station['name']}.")


@stations.command("release")
def stations_release(station_id: str) -> None:
    """Release one of your workshop's stations: its token stops working at once."""
    with signed_in_client() as client:
        response = client.delete(f"/workshops/{_own_workshop(client)}/stations/{station_id}")
        if response.status_code != 204:
            read_answer(response)
    console.print(f"Station [bold]{station_id}[/] released; its token no longer works.")
