"""Every text the console shows has a Dutch translation, and the catalogues compile."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from console.catalogue import translations, used_messages
from console.i18n import LANGUAGES, Translator, catalogue


def test_every_message_of_the_templates_and_pages_has_a_dutch_translation() -> None:
    used = used_messages()
    dutch = translations("nl")
    missing = {msgid: where for msgid, where in used.items() if not dutch.get(msgid)}
    assert not missing, "no Dutch translation (python -m console.catalogue <part>):\n" + "\n".join(
        f"{where[0]}: {msgid!r}" for msgid, where in missing.items()
    )
    # The extractor really reads templates and code: texts of both kinds are among the used.
    assert "Skip to main content" in used  # base.html
    assert "Enter your password." in used  # console/routes/sign_in.py


def test_placeholders_survive_translation() -> None:
    dutch = translations("nl")
    for msgid in used_messages():
        translated = dutch.get(msgid, "")
        for placeholder in {p for p in msgid.split("%(")[1:]}:
            name = placeholder.split(")s", 1)[0]
            assert f"%({name})s" in translated, f"{msgid!r} -> {translated!r} lost %({name})s"


def test_dutch_formats_dates_numbers_and_money_the_dutch_way() -> None:
    for language in LANGUAGES:
        catalogue(language)  # compiles
    dutch = Translator("nl", ZoneInfo("Europe/Amsterdam"))
    english = Translator("en", ZoneInfo("Europe/Amsterdam"))
    assert dutch._("Sign out") == "Afmelden"
    assert dutch.money(123450) == "€\xa01.234,50"
    assert english.money(123450) == "€1,234.50"
    moment = datetime(2026, 3, 5, 13, 7, tzinfo=UTC)
    assert dutch.datetime(moment) == "5 mrt 2026, 14:07"
    assert english.datetime(moment) == "5 Mar 2026, 14:07"
