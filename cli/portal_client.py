"""What every `aos` command shares: the terminal it writes to, the signed-in session kept on
disk, the HTTP client it makes, and how an answer of the API is read (a problem document
becomes a clear message and exit code 1)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

console = Console()


def session_file_path() -> Path:
    """Where `aos login` keeps the session: $AOS_CLI_CONFIG, else ~/.config/aos/session.json."""
    return Path(os.environ.get("AOS_CLI_CONFIG", Path.home() / ".config" / "aos" / "session.json"))


def signed_in_session() -> dict[str, str]:
    """The kept session (the API's address and the token), or a hint to sign in and exit 1."""
    path = session_file_path()
    if not path.exists():
        console.print("[red]Not signed in.[/] Run [bold]aos login[/] first.")
        raise typer.Exit(1)
    data: dict[str, str] = json.loads(path.read_text())
    return data


def signed_in_client() -> httpx.Client:
    """An HTTP client for the signed-in portal, sending the session's token."""
    session = signed_in_session()
    return httpx.Client(
        base_url=session["api"],
        headers={"Authorization": f"Bearer {session['token']}"},
        timeout=30,
    )


def read_answer(response: httpx.Response) -> Any:
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


def problem_type(response: httpx.Response) -> str | None:
    """The type of the problem document a failed request answered with, if any."""
    if response.is_success:
        return None
    try:
        problem = response.json()
    except ValueError:
        return None
    return problem.get("type") if isinstance(problem, dict) else None
