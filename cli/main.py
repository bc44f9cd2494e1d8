"""aos: the technician's and operator's terminal client for the AOS workflow engine.

Sign in once (`aos login`), then start, watch, resume and abort ECU flashes, and look up flows.
The session token is kept in ~/.config/aos/session.json (or $AOS_CLI_CONFIG), readable by you only.
A programming session is named by its id as `aos flash start` prints it or by its workflow id
(`programming-<id>`, as `aos flows list` shows it): every command takes either.
"""

from __future__ import annotations

import typer

from cli.flash import flash
from cli.flows import flows
from cli.login import login
from cli.report import report
from cli.stations import stations

# One module per command group; this entry point (`aos = "cli.main:app"`) composes them.
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.command()(login)
app.add_typer(flash, name="flash")
app.add_typer(flows, name="flows")
app.add_typer(stations, name="stations")
app.add_typer(report, name="report")


if __name__ == "__main__":
    app()
