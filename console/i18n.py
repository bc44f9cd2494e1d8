"""Languages of the console: gettext catalogues (Babel `.po` files) and locale-aware formats.

The `.po` files under `console/locales/<lang>/LC_MESSAGES/` are compiled in memory at
start-up (`babel.messages.pofile.read_po` + `mofile.write_mo`), so there is no build step and
nothing generated is committed. The language of a request is the `aos_lang` cookie (set by the
switch on every page) or else the best match of `Accept-Language`.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from starlette.requests import Request

from domain.catalogue import SERVICE_NAMES
from domain.languages import Language
from web.languages import preferred_language

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "console"
LANGUAGES: Mapping[str, str] = {"en": "English", "nl": "Nederlands"}  # code -> own name
LANGUAGE_COOKIE = "aos_lang"
# The locale whose formats (dates, numbers) a language uses where it differs from its own code.
FORMAT_LOCALES: Mapping[str, str] = {"en": "en_GB"}


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown (`Translator._`)."""
    return message


def domain_translations(language: str) -> dict[str, str]:
    """The translations the domain keeps itself, for the mails as well as the console: the
    services' names (`domain.catalogue.SERVICE_NAMES`), msgid = the English name."""
    return {names[Language.EN]: names[Language(language)] for names in SERVICE_NAMES.values()}


@lru_cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of `language`: every `.po` file of its `LC_MESSAGES` (one per
    part of the console) merged, and the domain's translations. English is the source language
    (msgid = the English text)."""
    merged = Catalog(locale=language, domain=DOMAIN)
    for po_file in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as source:
            for message in read_po(source, locale=language, domain=DOMAIN):
                if message.id and message.string:
                    merged.add(message.id, message.string)
    for msgid, translated in domain_translations(language).items():
        merged.add(msgid, translated)
    compiled = io.BytesIO()
    write_mo(compiled, merged)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def load_catalogues() -> None:
    """Compile every catalogue now (at start-up), so a broken `.po` file fails early."""
    for language in LANGUAGES:
        catalogue(language)


def request_language(request: Request) -> str:
    """The switch's cookie when set, else the best `Accept-Language` match, else English."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen is not None and chosen in LANGUAGES:
        return chosen
    return preferred_language(request.headers.get("accept-language", "")).value


@dataclass(frozen=True)
class Translator:
    """One request's language: its messages and its formats of dates, numbers and money."""

    language: str
    timezone: ZoneInfo

    @property
    def locale(self) -> Locale:
        """The locale of formats: English as written in Europe (24-hour clock, day first)."""
        return Locale.parse(FORMAT_LOCALES.get(self.language, self.language))

    def _(self, message: str, **values: object) -> str:
        """The message in this language, with `%(name)s` placeholders filled from `values`."""
        translated = catalogue(self.language).gettext(message)
        return translated % values if values else translated

    def ngettext(self, singular: str, plural: str, count: int, **values: object) -> str:
        translated = catalogue(self.language).ngettext(singular, plural, count)
        return translated % {"num": count, **values}

    def datetime(self, moment: dt.datetime | None) -> str:
        """Date and time (to the minute) in the console's time zone: `5 Mar 2026, 14:07` /
        `5 mrt 2026 14:07`."""
        if moment is None:
            return ""
        local = moment.astimezone(self.timezone)
        return str(get_datetime_format("medium", locale=self.locale)).format(
            format_time(local, "short", locale=self.locale),
            format_date(local, "medium", locale=self.locale),
        )

    def timestamp(self, moment: dt.datetime | None) -> str:
        """Date and time to the millisecond, for events that come many a second:
        `5 Mar 2026, 14:07:33.120` / `5 mrt 2026, 14:07:33.120`."""
        if moment is None:
            return ""
        local = moment.astimezone(self.timezone)
        # Babel rounds the fraction ("SSS" of .9996 s is "1000"): cut it to the millisecond
        local = local.replace(microsecond=local.microsecond // 1000 * 1000)
        return str(get_datetime_format("medium", locale=self.locale)).format(
            format_time(local, "HH:mm:ss.SSS", locale=self.locale),
            format_date(local, "medium", locale=self.locale),
        )

    def date(self, moment: dt.date | dt.datetime | None) -> str:
        if moment is None:
            return ""
        if isinstance(moment, dt.datetime):
            moment = moment.astimezone(self.timezone).date()
        return format_date(moment, "medium", locale=self.locale)

    def money(self, cents: int, currency: str = "EUR") -> str:
        """Euro cents as money: `€1,234.50` in English, `€ 1.234,50` in Dutch."""
        return format_currency(Decimal(cents) / 100, currency, locale=self.locale)

    def number(self, value: float | Decimal, decimals: int | None = None) -> str:
        """`1234.5` -> `1,234.5` / `1.234,5`; with `decimals`, exactly that many digits."""
        pattern = None if decimals is None else "#,##0." + "0" * decimals if decimals else "#,##0"
        return format_decimal(value, format=pattern, locale=self.locale)

    def duration(self, span: dt.timedelta) -> str:
        """A remaining time, rounded to its largest unit: `3 hours`, `6 dagen`."""
        return format_timedelta(span, threshold=1.5, locale=self.locale)
