"""Account administration used by commands (not by workflows): the initial administrator."""

from __future__ import annotations

from db.accounts import AccountRepository, SessionFactory


async def ensure_administrator(
    session_factory: SessionFactory, email: str, password: str, name: str
) -> bool:
    """Create the administrator unless an account with this email exists. True when created."""
    return await AccountRepository(session_factory).ensure_administrator(email, password, name)
