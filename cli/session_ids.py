"""How a command is told which programming session or flow it is about: by the session's id as
`aos flash start` prints it, or by its workflow id as `aos flows list` shows it."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from contracts.programming import programming_workflow_id

SESSION_WORKFLOW_PREFIX = programming_workflow_id("")
SessionId = Annotated[
    str,
    typer.Argument(
        help="The session's id as `aos flash start` prints it, or its workflow id "
        "(programming-<id>) as `aos flows list` shows it"
    ),
]


def session_id_from(given: str) -> str:
    """The session's id, from either form a user may have at hand."""
    return given.removeprefix(SESSION_WORKFLOW_PREFIX)


def workflow_id_from(given: str) -> str:
    """A flow's workflow id; a bare session id (what `aos flash start` prints) names its
    session's flow. Workflow ids always start with their flow's name, so this is unambiguous."""
    try:
        uuid.UUID(given)
    except ValueError:
        return given
    return programming_workflow_id(given)
