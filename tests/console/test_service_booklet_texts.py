"""The service booklet's texts that come from the domain as data (the CBS items' labels, the
consent text) are written once, in the domain; the catalogues take them from there, so each
is translated where a page shows it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from console.catalogue import used_messages
from console.i18n import Translator
from domain.service_history import CBS_LABELS, CONSENT_TEXT


def test_the_domains_texts_are_among_the_messages_to_translate() -> None:
    used = used_messages()
    for text in (CONSENT_TEXT, *CBS_LABELS.values()):
        assert text in used, text


def test_each_has_a_dutch_translation() -> None:
    dutch = Translator("nl", ZoneInfo("Europe/Amsterdam"))
    for text in (CONSENT_TEXT, *CBS_LABELS.values()):
        assert dutch._(text) != text or text == "Microfilter", text
