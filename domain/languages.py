"""The languages a person of the portal reads: the console's and the mail's."""

from __future__ import annotations

from enum import StrEnum


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
