"""A second step before an action that cannot be undone, without JavaScript.

The page's own form asks inside a `<details>` (the first click opens it, the second sends
`confirm=yes`); a form sent without `confirm=yes` (an old page, a script, a browser that
shows `<details>` open) gets the confirmation page instead, and nothing happens yet.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from console.rendering import render

CONFIRM_FIELD = "confirm"
CONFIRMED = "yes"


def confirmed(value: str) -> bool:
    """True when the form carried the confirmation (`confirm=yes`)."""
    return value == CONFIRMED


def confirmation_page(
    request: Request,
    *,
    heading: str,
    warning: str,
    action: str,
    confirm_label: str,
    cancel: str,
) -> HTMLResponse:
    """The page asking once more: `warning`, a danger button that sends the form to `action`
    with `confirm=yes`, and a way back to `cancel`."""
    return render(
        request,
        "confirm.html",
        {
            "heading": heading,
            "warning": warning,
            "action": action,
            "confirm_label": confirm_label,
            "cancel": cancel,
            "confirm_field": CONFIRM_FIELD,
            "confirmed_value": CONFIRMED,
            "here": cancel,
        },
    )
