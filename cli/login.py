"""`aos login`: sign in with password and TOTP, enrolling the authenticator app at the first
sign-in, and keep the session on disk for the other commands."""

from __future__ import annotations

import io
import json
from typing import Annotated, Any

import httpx
import segno
import typer

from cli.portal_client import console, problem_type, read_answer, session_file_path

TOTP_PROMPT = "Code from your authenticator app"
ENROLMENT_CODE_TRIES = 3


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
        if problem_type(response) == "/problems/totp-required":
            body["totp_code"] = typer.prompt(TOTP_PROMPT)
            response = client.post("/auth/login", json=body)
        answer = read_answer(response)
        if answer.get("status") == "totp_enrolment_required":
            answer = _enrol_totp(client, answer)
    path = session_file_path()
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
            problem_type(response) != "/problems/invalid-credentials"
            or attempt == ENROLMENT_CODE_TRIES
        ):
            return read_answer(response)
        console.print("[red]That code is wrong.[/] Enter the one the app shows now.")
    raise AssertionError("unreachable")
