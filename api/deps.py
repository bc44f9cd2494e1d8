"""Request dependencies, each an `Annotated` alias a route can declare by type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.mail import MailSender, mail_sender_for
from settings import Settings


@dataclass
class AppResources:
    """What the lifespan opens once per process and every request shares."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    temporal: Client


def get_resources(request: Request) -> AppResources:
    resources: AppResources = request.app.state.resources
    return resources


ResourcesDep = Annotated[AppResources, Depends(get_resources)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


def get_temporal(resources: ResourcesDep) -> Client:
    return resources.temporal


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with resources.session_factory() as session:
        yield session


def get_mail_sender(resources: ResourcesDep) -> MailSender:
    return mail_sender_for(resources.settings, resources.session_factory)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
MailSenderDep = Annotated[MailSender, Depends(get_mail_sender)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
