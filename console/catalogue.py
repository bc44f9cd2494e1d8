"""Keeping the translations complete.

`used_messages()` lists every msgid the console's templates and code use, the domain's texts
the pages show (`console.service_booklet_texts.SHOWN_DOMAIN_TEXTS`), and the modules outside
the console that speak through the console's translator (`TRANSLATED_ELSEWHERE`). Each part of the
console keeps its messages in its own file, `console/locales/<lang>/LC_MESSAGES/<part>.po`
(all of a language's files are merged at start-up), so people working on different parts
never edit the same file. `python -m console.catalogue <part>` appends the msgids that no file
has yet to `<part>.po` of every language, with an empty translation to fill in; it never
changes another file or an existing entry.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

from console.i18n import DOMAIN, LANGUAGES, LOCALES_DIR, domain_translations
from console.service_booklet_texts import SHOWN_DOMAIN_TEXTS

CONSOLE_DIR = Path(__file__).parent
# Modules outside the console whose texts the console translates: they say them through a
# translator they are given (`wording._("...")`).
TRANSLATED_ELSEWHERE = (
    CONSOLE_DIR.parent / "application" / "maintenance_log.py",
    CONSOLE_DIR.parent / "application" / "invoice_pdf.py",
)
METHOD_MAP = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


def used_messages() -> dict[str, list[str]]:
    """Every msgid the console uses (the singular of a plural), with where it is used."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        CONSOLE_DIR, METHOD_MAP, OPTIONS, KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    # The domain's texts that pages show: written once, in the domain, and translated here.
    for msgid in SHOWN_DOMAIN_TEXTS:
        found.setdefault(msgid, []).append("console/service_booklet_texts.py:SHOWN_DOMAIN_TEXTS")
    for path in TRANSLATED_ELSEWHERE:
        for lineno, message, _comments, _context in extract_from_file(
            "python", path, keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append(f"{path.name}:{lineno}")
    return found


def translations(language: str) -> dict[str, str]:
    """msgid -> translation over all `.po` files of `language` (empty: not translated), and
    the domain's own translations (the services' names)."""
    found: dict[str, str] = dict(domain_translations(language))
    for po_file in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as source:
            for message in read_po(source, locale=language, domain=DOMAIN):
                if message.id and isinstance(message.id, str):
                    found[message.id] = found.get(message.id) or str(message.string or "")
    return found


def add_missing(part: str) -> int:
    """Append the msgids no `.po` file has to `<part>.po` of each language; how many."""
    used = used_messages()
    added = 0
    for language in LANGUAGES:
        known = translations(language)
        target = LOCALES_DIR / language / "LC_MESSAGES" / f"{part}.po"
        if target.exists():
            with target.open("rb") as source:
                catalog = read_po(source, locale=language, domain=DOMAIN)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="aos-console")
        missing = [msgid for msgid in used if msgid not in known]
        for msgid in missing:
            catalog.add(msgid, "", locations=[])
        added = max(added, len(missing))
        with target.open("wb") as out:
            write_po(out, catalog, width=100, omit_header=False)
    return added


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m console.catalogue <part>   (e.g. kasio, programming)")
    print(f"{add_missing(sys.argv[1])} messages added")
