"""Where the console lives in the app's URL space."""

from __future__ import annotations

PREFIX = "/console"


def safe_next(target: str | None) -> str:
    """Where to go back to: a console path only, never another site (`//evil.example`)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"
