"""A moment in a mail as its reader reads it: Dutch in Amsterdam time (summer and winter),
English in UTC with the zone named."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.languages import Language, local_datetime


def test_dutch_readers_get_amsterdam_time_in_winter_and_summer() -> None:
    assert local_datetime(datetime(2026, 1, 5, 13, 7, tzinfo=UTC), Language.NL) == (
        "5 januari 2026 om 14:07"
    )
    assert local_datetime(datetime(2026, 7, 31, 22, 30, tzinfo=UTC), Language.NL) == (
        "1 augustus 2026 om 00:30"
    )


def test_english_readers_get_utc_named_so() -> None:
    assert local_datetime(datetime(2026, 3, 5, 13, 7, tzinfo=UTC), Language.EN) == (
        "5 March 2026, 13:07 UTC"
    )
