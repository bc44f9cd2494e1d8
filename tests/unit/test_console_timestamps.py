"""The operators' timeline shows each event to the millisecond (`Translator.timestamp`)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from console.i18n import Translator


@pytest.mark.parametrize(
    ("microsecond", "shown"),
    [(0, "07:31:11.000"), (120_400, "07:31:11.120"), (999_600, "07:31:11.999")],
)
def test_a_moment_is_shown_to_its_millisecond_never_rounded_up(
    microsecond: int, shown: str
) -> None:
    # Babel rounds the fraction of a second: .9996 s came out as "11.1000" (seen in CI)
    moment = datetime(2026, 12, 5, 6, 31, 11, microsecond, tzinfo=UTC)
    for language in ("nl", "en"):
        text = Translator(language, ZoneInfo("Europe/Amsterdam")).timestamp(moment)
        assert text.endswith(shown), text
