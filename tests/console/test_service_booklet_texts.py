"""The service booklet's texts that come from the domain as data are marked for the catalogues
in `console/service_booklet_texts.py`; the marks must stay the domain's texts word for word,
or the pages would show them untranslated."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from console.i18n import Translator
from console.service_booklet_texts import CBS_LABEL_MESSAGES, CONSENT_TEXT_MESSAGE
from domain.service_history import CBS_LABELS, CONSENT_TEXT


def test_the_marked_texts_are_the_domains() -> None:
    assert CONSENT_TEXT_MESSAGE == CONSENT_TEXT
    assert sorted(CBS_LABEL_MESSAGES) == sorted(CBS_LABELS.values())


def test_each_has_a_dutch_translation() -> None:
    dutch = Translator("nl", ZoneInfo("Europe/Amsterdam"))
    for text in (CONSENT_TEXT, *CBS_LABELS.values()):
        assert dutch._(text) != text or text == "Microfilter", text
