"""The demo corpus of technical information: invented documents for three demo series (F30,
G30, G05 of `domain/data/demo_vehicles.json`), in English and Dutch, written to read like the
real thing (steps, torque values, part numbers, warnings), with SVG wiring diagrams and some
security-related documents. Nothing here is a manufacturer's text.

`demo_corpus()` gives the documents, `demo_revisions()` the later versions some of them have;
`db.technical_information_seed` stores both (`make dev` and the tests). `bench.generated_corpus(n)`
makes any number of varied documents for the bench.

Pure and deterministic: the same call gives the same documents.
"""

from __future__ import annotations

from domain.technical_information import DocumentSpec, DocumentText
from domain.technical_information_corpus.diagrams import wiring_diagrams
from domain.technical_information_corpus.extras import campaigns, f30_date_bound
from domain.technical_information_corpus.references import bulletins_and_references
from domain.technical_information_corpus.repairs import repair_instructions
from domain.technical_information_corpus.writing import (
    EN,
    NL,
    SERIES,
    Revision,
    Series,
    part_number,
    text_lines,
)


def _series_documents(s: Series) -> list[DocumentSpec]:
    return repair_instructions(s) + wiring_diagrams(s) + bulletins_and_references(s)


def demo_corpus() -> list[DocumentSpec]:
    """The demo documents: every series' set, the F30's date-bound ones and the campaigns."""
    documents = [doc for series in SERIES for doc in _series_documents(series)]
    return documents + f30_date_bound() + campaigns()


def demo_revisions() -> list[Revision]:
    """Later versions of some demo documents (the first stays readable, superseded)."""
    s = SERIES[0]
    return [
        Revision(
            "RI-F30-3411",
            "Caliper carrier bolts are stretch bolts from now on: always replace them.",
            (
                DocumentText(EN, f"Replace the front brake pads and brake discs ({s.code})", text_lines(
                    f"Applies to: {s.name} ({s.code}), all engines.",
                    "Warning: brake dust may contain harmful substances. Do not blow it off "
                    "with compressed air; use a brake cleaner and an extraction device.",
                    "Warning: the caliper carrier bolts are stretch bolts. Always replace them.",
                    "1. Raise the vehicle and remove the front wheels.",
                    "2. Disconnect the brake pad wear sensor plug and unclip the cable.",
                    "3. Push the brake piston back with the reset tool 34 1 190.",
                    f"4. Fit new caliper carrier bolts: {s.caliper_nm} Nm plus 30°.",
                    "5. Replace the brake discs (retaining screw 16 Nm) and the pads.",
                    f"6. Wheel bolts {s.wheel_bolt_nm} Nm in a cross pattern.",
                    f"Parts: brake disc {part_number(s, '792 217')}, brake pad set "
                    f"{part_number(s, '859 066')}, carrier bolt 34 11 6 799 910 (2 per side).",
                )),
                DocumentText(NL, f"Remblokken en remschijven voor vervangen ({s.code})", text_lines(
                    f"Geldt voor: {s.name} ({s.code}), alle motoren.",
                    "Waarschuwing: remstof kan schadelijke stoffen bevatten. Niet wegblazen "
                    "met perslucht; gebruik remmenreiniger en een afzuiging.",
                    "Waarschuwing: de bouten van de remklauwdrager zijn rekbouten. Altijd "
                    "vervangen.",
                    "1. Auto opkrikken en de voorwielen demonteren.",
                    "2. Stekker van de slijtagesensor losnemen en de kabel losklikken.",
                    "3. Remzuiger terugdrukken met het terugzetgereedschap 34 1 190.",
                    f"4. Nieuwe bouten van de remklauwdrager: {s.caliper_nm} Nm plus 30°.",
                    "5. Remschijven (borgschroef 16 Nm) en remblokken vervangen.",
                    f"6. Wielbouten {s.wheel_bolt_nm} Nm kruiselings.",
                    f"Onderdelen: remschijf {part_number(s, '792 217')}, remblokset "
                    f"{part_number(s, '859 066')}, dragerbout 34 11 6 799 910 (2 per kant).",
                )),
            ),
        )
    ]  # fmt: skip
