"""What every corpus document is written with: the demo series and their figures, a document
in English and Dutch, a later revision, and small text helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.technical_information import (
    Applicability,
    DocumentSpec,
    DocumentText,
    DocumentType,
    Language,
    SystemGroup,
)

EN, NL = Language.EN, Language.NL


@dataclass(frozen=True)
class Series:
    code: str
    name: str
    engine: str
    type_codes: tuple[str, ...]
    produced_from: date
    produced_until: date | None
    oil_litres: str
    wheel_bolt_nm: int
    caliper_nm: int
    part_prefix: str


SERIES = (
    Series("F30", "3 Series Saloon", "B47 diesel", ("8E51", "8A31", "3D91"),
           date(2011, 10, 1), date(2019, 2, 28), "5.2", 140, 110, "34 11 6"),
    Series("G30", "5 Series Saloon", "B46 petrol", ("JA51", "JC31"),
           date(2016, 11, 1), None, "5.25", 140, 125, "34 10 6"),
    Series("G05", "X5", "B58 petrol", ("CR65", "CV61"),
           date(2018, 8, 1), None, "6.5", 180, 160, "34 11 8"),
)  # fmt: skip


@dataclass(frozen=True)
class Revision:
    """A later version of a corpus document."""

    document_id: str
    change_note: str
    texts: tuple[DocumentText, ...]


def document(
    document_id: str,
    doc_type: DocumentType,
    group: SystemGroup,
    applies: tuple[Applicability, ...],
    en: tuple[str, str],
    nl: tuple[str, str],
    *,
    svg: tuple[str, str] | None = None,
    security: bool = False,
    action_id: str | None = None,
) -> DocumentSpec:
    return DocumentSpec(
        document_id=document_id,
        doc_type=doc_type,
        system_group=group,
        applicability=applies,
        texts=(
            DocumentText(EN, en[0], en[1], svg[0] if svg else None),
            DocumentText(NL, nl[0], nl[1], svg[1] if svg else None),
        ),
        security_related=security,
        action_id=action_id,
    )


def text_lines(*lines: str) -> str:
    return "\n".join(lines)


def part_number(series: Series, suffix: str) -> str:
    return f"{series.part_prefix}{suffix}"
