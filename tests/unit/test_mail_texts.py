"""Every mail has its text in every language, with the same facts filled in."""

from __future__ import annotations

from string import Formatter

import pytest

from domain.languages import Language
from domain.mail_texts import _TEXTS, MailKind, mail_text


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


@pytest.mark.parametrize("kind", list(MailKind))
def test_each_mail_speaks_every_language_with_the_same_facts(kind: MailKind) -> None:
    texts = _TEXTS[kind]
    assert set(texts) == set(Language), kind
    english_subject, english_body = texts[Language.EN]
    for language, (subject, body) in texts.items():
        assert _placeholders(subject) == _placeholders(english_subject), (kind, language)
        assert _placeholders(body) == _placeholders(english_body), (kind, language)
        assert (subject, body) != (english_subject, english_body) or language == Language.EN


def test_a_fact_left_empty_reads_as_not_given_in_the_mail_s_language() -> None:
    dutch = mail_text(MailKind.REGISTRATION_REJECTED, Language.NL, company_name="X", reason="")
    english = mail_text(MailKind.REGISTRATION_REJECTED, Language.EN, company_name="X", reason="")
    assert (dutch.body, english.body) == ("Reden: niet opgegeven", "Reason: not given")
