"""The price list: the default prices of `domain/data/prices.json` with the administrators'
changes (`price_changes`, newest last) applied."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.access import PriceChange
from domain.catalogue import PriceList, Service, TicketPeriod, parse_price_list

DEFAULT_PRICES_FILE = Path(__file__).resolve().parent.parent / "domain" / "data" / "prices.json"


@lru_cache
def load_price_file(path: Path = DEFAULT_PRICES_FILE) -> PriceList:
    """The default price list from its data file (read once per process)."""
    return parse_price_list(json.loads(path.read_text(encoding="utf-8")))


async def current_price_list(session: AsyncSession, price_file: Path) -> PriceList:
    """The prices in force: the file's, with every stored change applied in order."""
    changes = await session.scalars(
        select(PriceChange).order_by(PriceChange.changed_at, PriceChange.id)
    )
    overrides = {
        (Service(change.service), TicketPeriod(change.period)): change.price_cents
        for change in changes
    }
    return load_price_file(price_file).with_changes(overrides)
