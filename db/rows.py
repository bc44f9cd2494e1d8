"""The rules every repository shares about one row: looked up by its primary key (there, or a
domain error), created on its first write, scoped to a workshop (another workshop's row looks
missing), and inserted once (a row already there with its key is not an error)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import Base

RowT = TypeVar("RowT")
ModelT = TypeVar("ModelT", bound=Base)


class _HeldByWorkshop(Protocol):
    @property
    def workshop_id(self) -> str | None: ...


WorkshopRowT = TypeVar("WorkshopRowT", bound=_HeldByWorkshop)


async def get_or_raise(
    session: AsyncSession,
    model: type[RowT],
    key: Any,
    missing: Exception,
    *,
    with_for_update: bool = False,
) -> RowT:
    """The row of `model` with the primary key `key`; `missing` is raised when there is none."""
    row = await session.get(model, key, with_for_update=with_for_update)
    if row is None:
        raise missing
    return row


async def get_or_add(session: AsyncSession, model: type[ModelT], key: Any) -> ModelT:
    """The row of `model` whose `id` is `key`, or, on the first write of that key, a new row
    with only its `id` set, added to the session for the caller to fill in."""
    row = await session.get(model, key)
    if row is None:
        row = model(id=key)
        session.add(row)
    return row


async def get_of_workshop(
    session: AsyncSession,
    model: type[WorkshopRowT],
    key: Any,
    workshop_id: str | None,
    missing: Exception,
) -> WorkshopRowT:
    """The row when it belongs to `workshop_id` (None: any workshop's). Another workshop's row
    raises `missing` as an unknown key does, so its id tells that workshop nothing."""
    row = await get_or_raise(session, model, key, missing)
    if workshop_id is not None and row.workshop_id != workshop_id:
        raise missing
    return row


async def insert_once(session_factory: async_sessionmaker[AsyncSession], row: object) -> bool:
    """Insert `row` in a transaction of its own: True when it was inserted, False when a row
    with the same key was there already (stored before, or by a concurrent call)."""
    try:
        async with session_factory() as session, session.begin():
            session.add(row)
    except IntegrityError:
        return False
    return True
