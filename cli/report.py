"""`aos report`: download a session's signed report, and verify one offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer

from cli.portal_client import console, read_answer, signed_in_client, signed_in_session
from cli.session_ids import SessionId, session_id_from
from domain.report_verification import public_keys_from_json, verify_report

report = typer.Typer(no_args_is_help=True, help="Signed programming reports.")


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
    with signed_in_client() as client:
        response = client.get(f"/programming-sessions/{session_id_from(session_id)}/report{suffix}")
        if not response.is_success:
            read_answer(response)
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
        with httpx.Client(base_url=signed_in_session()["api"], timeout=30) as client:
            response = client.get("/programming-report-keys")
            read_answer(response)
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
