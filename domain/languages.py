"""The languages a person of the portal reads: the console's and the mail's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo


class Language(StrEnum):
    """The languages of the console and the mail."""

    EN = "en"
    NL = "nl"


DEFAULT_LANGUAGE = Language.EN


def language_or_default(code: str | None) -> Language:
    """`code` as a `Language`; English for None or a code the portal does not speak."""
    try:
        return Language(code) if code else DEFAULT_LANGUAGE
    except ValueError:
        return DEFAULT_LANGUAGE


# Where a reader of each language is assumed to be: Dutch readers in the Netherlands; others
# read times in UTC, named as such.
LOCAL_ZONES: Mapping[Language, tzinfo] = {
    Language.NL: ZoneInfo("Europe/Amsterdam"),
    Language.EN: UTC,
}
_MONTHS = {
    Language.EN: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    Language.NL: [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
}


def local_datetime(moment: datetime, language: Language) -> str:
    """`moment` to the minute as a reader of `language` reads it, in that reader's zone (for
    mails): `5 maart 2026 om 14:07` in Dutch (Amsterdam time), `5 March 2026, 13:07 UTC`
    otherwise. Written out rather than by Babel, so a workflow composes it deterministically."""
    local = moment.astimezone(LOCAL_ZONES[language])
    month = _MONTHS[language][local.month - 1]
    if language is Language.NL:
        return f"{local.day} {month} {local.year} om {local:%H:%M}"
    return f"{local.day} {month} {local.year}, {local:%H:%M} UTC"
