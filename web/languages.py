"""The language a request asks for in `Accept-Language`: the console's pages, and the mail of
an applicant who registers through the API."""

from __future__ import annotations

from babel import Locale

from domain.languages import DEFAULT_LANGUAGE, Language

# Longer than any browser sends: an API caller's longer header is refused, not parsed.
ACCEPT_LANGUAGE_MAX_LENGTH = 200


def _accepted_languages(header: str) -> list[str]:
    """`Accept-Language` ranges, best first (`nl-BE,nl;q=0.9,en;q=0.5` -> nl-BE, nl, en)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.replace("_", "-")))
    return [tag for _, _, tag in sorted(ranked)]


def preferred_language(accept_language: str) -> Language:
    """The best match of an `Accept-Language` header among the portal's languages, else
    English."""
    preferred = _accepted_languages(accept_language)
    if not preferred:
        return DEFAULT_LANGUAGE
    match = Locale.negotiate(preferred, [language.value for language in Language], sep="-")
    return Language(match.language) if match is not None else DEFAULT_LANGUAGE
