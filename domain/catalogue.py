"""What the portal sells: time-boxed access tickets per service and period, priced in euro cents.

The default price list is a data file (`domain/data/prices.json`, read by the database layer);
administrators override single prices, and the newest override wins. A ticket stores the price
it was sold at, so later price changes never alter tickets already sold.

This module is pure: no I/O, no imports from other project packages.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from domain.errors import DomainError
from domain.languages import Language

CURRENCY = "EUR"
MAX_PRICE_CENTS = 100_000_000  # one million euro: anything above is a typing error


class Service(StrEnum):
    """A part of the portal that is sold separately."""

    TECHNICAL_INFORMATION = "technical_information"
    SERVICE_HISTORY = "service_history"
    ECU_PROGRAMMING = "ecu_programming"
    TELESERVICE = "teleservice"


class TicketPeriod(StrEnum):
    """How long a ticket lasts. Months and years are calendar months and years."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


PERIOD_LABELS: dict[TicketPeriod, str] = {
    TicketPeriod.HOUR: "1 hour",
    TicketPeriod.DAY: "1 day",
    TicketPeriod.WEEK: "1 week",
    TicketPeriod.MONTH: "1 month",
    TicketPeriod.YEAR: "1 year",
}

# A service as people read its name, in each language the portal speaks: the console's pages
# and documents (the English name is the msgid, translated to these by `console.i18n`) and the
# mails all name it so.
SERVICE_NAMES: Mapping[Service, Mapping[Language, str]] = {
    Service.SERVICE_HISTORY: {
        Language.EN: "Service booklet",
        Language.NL: "Digitaal serviceboekje",
    },
    Service.ECU_PROGRAMMING: {
        Language.EN: "ECU programming",
        Language.NL: "Programmering regeleenheden",
    },
    Service.TECHNICAL_INFORMATION: {
        Language.EN: "Technical information",
        Language.NL: "Technische informatie",
    },
    Service.TELESERVICE: {Language.EN: "Teleservice", Language.NL: "Teleservice"},
}


def service_name(service: Service, language: Language = Language.EN) -> str:
    """The name of `service` in `language` (English: the console's msgid)."""
    return SERVICE_NAMES[service][language]


# The API's labels of the services (its `ServiceView.label`).
SERVICE_LABELS: dict[Service, str] = {
    Service.TECHNICAL_INFORMATION: "Technical information",
    Service.SERVICE_HISTORY: "Service history",
    Service.ECU_PROGRAMMING: "ECU programming",
    Service.TELESERVICE: "Teleservice",
}


class InvalidPriceList(DomainError):
    code = "invalid-price-list"
    title = "The price list is not valid"


class InvalidPrice(DomainError):
    code = "invalid-price"
    title = "The price is not valid"


Moment = TypeVar("Moment", date, datetime)


def add_months(moment: Moment, months: int) -> Moment:
    """The same day (and time) `months` later; the 31st becomes the last day of a shorter month."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(start: datetime, period: TicketPeriod) -> datetime:
    """The first instant a ticket starting at `start` no longer covers (coverage is [start, end))."""
    match period:
        case TicketPeriod.HOUR:
            return start + timedelta(hours=1)
        case TicketPeriod.DAY:
            return start + timedelta(days=1)
        case TicketPeriod.WEEK:
            return start + timedelta(weeks=1)
        case TicketPeriod.MONTH:
            return add_months(start, 1)
        case TicketPeriod.YEAR:
            return add_months(start, 12)


def check_price(price_cents: int) -> int:
    if isinstance(price_cents, bool) or not isinstance(price_cents, int):
        raise InvalidPrice("a price is a whole number of cents", field="price_cents")
    if not 0 < price_cents <= MAX_PRICE_CENTS:
        raise InvalidPrice(
            f"a price must be between 1 and {MAX_PRICE_CENTS} cents", field="price_cents"
        )
    return price_cents


@dataclass(frozen=True)
class PriceList:
    """A price in cents for every service and period."""

    prices: Mapping[tuple[Service, TicketPeriod], int]
    currency: str = CURRENCY

    def price(self, service: Service, period: TicketPeriod) -> int:
        return self.prices[(service, period)]

    def with_changes(self, changes: Mapping[tuple[Service, TicketPeriod], int]) -> PriceList:
        merged = dict(self.prices)
        merged.update({key: check_price(value) for key, value in changes.items()})
        return PriceList(merged, self.currency)


def parse_price_list(document: Mapping[str, Any]) -> PriceList:
    """Read the price file's content: `{"currency": "EUR", "prices": {service: {period: cents}}}`.

    Every service needs a price for every period, so a missing entry is found at start-up
    rather than when a workshop tries to buy it.
    """
    if document.get("currency", CURRENCY) != CURRENCY:
        raise InvalidPriceList(f"prices must be in {CURRENCY}")
    table = document.get("prices")
    if not isinstance(table, Mapping):
        raise InvalidPriceList("the price list needs a 'prices' object")
    prices: dict[tuple[Service, TicketPeriod], int] = {}
    for service in Service:
        row = table.get(service.value)
        if not isinstance(row, Mapping):
            raise InvalidPriceList(f"no prices for service {service.value}")
        for period in TicketPeriod:
            if period.value not in row:
                raise InvalidPriceList(f"no price for {service.value} / {period.value}")
            prices[(service, period)] = check_price(row[period.value])
    unknown = set(table) - {service.value for service in Service}
    if unknown:
        raise InvalidPriceList(f"unknown services in the price list: {sorted(unknown)}")
    return PriceList(prices)
