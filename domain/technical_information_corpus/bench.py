"""The bench's corpus: any number of varied documents over invented series."""

from __future__ import annotations

import random
from datetime import date

from domain.technical_information import (
    Applicability,
    DocumentSpec,
    DocumentText,
    DocumentType,
    SystemGroup,
)
from domain.technical_information_corpus.writing import EN, NL, text_lines

# --- the bench's corpus -----------------------------------------------------------------------

_BENCH_PARTS = (
    "brake caliper", "wheel bearing", "coolant pump", "oil filter", "timing chain", "turbocharger",
    "injector", "headlight", "window regulator", "door lock", "control arm", "drive shaft",
    "fuel pump", "alternator", "starter motor", "thermostat", "radiator", "blower motor",
    "wiper motor", "parking sensor", "steering rack", "shock absorber", "spring", "mirror",
)  # fmt: skip
_BENCH_VERBS = ("Replace", "Inspect", "Adjust", "Remove and install", "Check", "Repair")
_BENCH_GROUPS = tuple(SystemGroup)


def bench_series() -> list[tuple[str, list[str]]]:
    """The invented series (with their type codes) the bench's corpus and queries use."""
    return [
        (f"B{index:02d}", [f"B{index:02d}{letter}" for letter in "ABCD"]) for index in range(40)
    ]


def generated_corpus(count: int, seed: int = 25) -> list[DocumentSpec]:
    """`count` varied documents over invented series (for the search bench)."""
    rng = random.Random(seed)
    series = bench_series()
    documents = []
    for index in range(count):
        code, type_codes = rng.choice(series)
        part = rng.choice(_BENCH_PARTS)
        verb = rng.choice(_BENCH_VERBS)
        torque = rng.randrange(5, 300)
        number = f"{rng.randrange(11, 72)} {rng.randrange(10, 99)} {rng.randrange(1, 9)} "
        number += f"{rng.randrange(100, 999)} {rng.randrange(100, 999)}"
        other = rng.sample(_BENCH_PARTS, 3)
        start = date(2010 + rng.randrange(0, 10), rng.randrange(1, 13), 1)
        applies = (Applicability(code, rng.choice([None, *type_codes]), start, None),)
        body = text_lines(
            f"Warning: disconnect the battery before working on the {part}.",
            f"1. Remove the {other[0]} and the {other[1]}.",
            f"2. {verb} the {part}; torque {torque} Nm.",
            f"3. Check the {other[2]} for wear and leaks.",
            f"Parts: {part} {number}.",
        )
        documents.append(
            DocumentSpec(
                document_id=f"GEN-{index:06d}",
                doc_type=rng.choice(tuple(DocumentType)),
                system_group=rng.choice(_BENCH_GROUPS),
                applicability=applies,
                texts=(
                    DocumentText(EN, f"{verb} the {part} ({code})", body),
                    DocumentText(NL, f"{part} ({code}) — {verb.lower()}", body),
                ),
            )
        )
    return documents
