"""What a process opens once and every use case shares: settings, the database and Temporal."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from settings import Settings


@dataclass
class AppResources:
    """Opened by the served app's lifespan (`portal_app`) or by a bench or test; passed to the
    use cases of `application/` as their first argument."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    temporal: Client
