"""The wiring diagrams of each demo series: drawn as SVG, described in both languages."""

from __future__ import annotations

from html import escape

from domain.technical_information import Applicability, DocumentSpec, DocumentType, SystemGroup
from domain.technical_information_corpus.writing import Series, document, text_lines


def wiring_svg(title: str, components: list[str], wires: list[tuple[int, int, str, str]]) -> str:
    """A wiring diagram as SVG: components as labelled boxes in a row, wires between them with
    their colour code and pin. Drawing only (no script, no link)."""
    width = 160 * len(components) + 40
    height = 120 + 40 * len(wires)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for index, name in enumerate(components):
        x = 20 + 160 * index
        parts.append(
            f'<rect x="{x}" y="20" width="120" height="50" fill="#f4f6f8" stroke="#1b2a3a"/>'
            f'<text x="{x + 60}" y="50" text-anchor="middle">{escape(name)}</text>'
        )
    for row, (start, end, colour, pin) in enumerate(wires):
        y = 100 + 40 * row
        x1, x2 = 80 + 160 * start, 80 + 160 * end
        stroke = _WIRE_COLOURS.get(colour.split()[0].split("/")[0], "#555555")
        parts.append(
            f'<polyline points="{x1},70 {x1},{y} {x2},{y} {x2},70" fill="none" '
            f'stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{(x1 + x2) // 2}" y="{y - 6}" text-anchor="middle">'
            f"{escape(colour)} · {escape(pin)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_WIRE_COLOURS = {
    "RD": "#c0392b",
    "BK": "#222222",
    "BN": "#7b4a12",
    "GN": "#1e8449",
    "YE": "#b7950b",
    "BU": "#1f618d",
    "VT": "#7d3c98",
    "WH": "#909497",
    "OG": "#d35400",
    "GY": "#7f8c8d",
}


_DIAGRAMS: tuple[tuple[str, SystemGroup, bool, str, str, list[str], list[tuple[int, int, str, str]]], ...] = (
    ("WD-{s}-6101", SystemGroup.ELECTRICAL, False,
     "Wiring diagram: battery, power distribution box and starter ({s})",
     "Schakelschema: accu, stroomverdeler en startmotor ({s})",
     ["Battery 12 V", "IBS sensor", "Power distribution", "Starter", "Alternator"],
     [(0, 1, "RD 35 mm²", "B+"), (1, 2, "RD 35 mm²", "X10"), (2, 3, "RD 25 mm²", "30"),
      (2, 4, "RD 16 mm²", "B+"), (0, 4, "BK 35 mm²", "31 ground")]),
    ("WD-{s}-6301", SystemGroup.LIGHTING, False,
     "Wiring diagram: left headlight and front lighting module ({s})",
     "Schakelschema: koplamp links en verlichtingsmodule voor ({s})",
     ["FRM", "Headlight left", "Levelling motor", "Ground G101"],
     [(0, 1, "YE/BK 0.75 mm²", "X1.3 low beam"), (0, 1, "WH/VT 0.5 mm²", "X1.5 indicator"),
      (0, 2, "GN/BU 0.35 mm²", "X2.1 LIN"), (1, 3, "BN 1.5 mm²", "X1.1 ground")]),
    ("WD-{s}-3401", SystemGroup.BRAKES, False,
     "Wiring diagram: brake pad wear sensors and DSC ({s})",
     "Schakelschema: remblokslijtagesensoren en DSC ({s})",
     ["DSC unit", "Wear sensor FL", "Wear sensor RR", "Instrument cluster"],
     [(0, 1, "BU/GY 0.5 mm²", "X4.12"), (0, 2, "BU/WH 0.5 mm²", "X4.13"),
      (0, 3, "OG/GN 0.35 mm²", "PT-CAN")]),
    ("WD-{s}-6601", SystemGroup.SECURITY, True,
     "Wiring diagram: electronic immobiliser, ring antenna and body domain controller ({s})",
     "Schakelschema: elektronische startonderbreker, ringantenne en BDC ({s})",
     ["BDC", "Ring antenna", "DME", "Start/stop button", "Remote receiver"],
     [(0, 1, "VT/YE 0.35 mm²", "X14.7 coil"), (0, 2, "GN/OG 0.35 mm²", "EWS line"),
      (0, 3, "BK/RD 0.5 mm²", "X14.2 terminal 50"), (0, 4, "WH/BU 0.35 mm²", "LIN 2")]),
)  # fmt: skip


# --- per series documents ----------------------------------------------------------------------


def wiring_diagrams(s: Series) -> list[DocumentSpec]:
    """A series' wiring diagrams."""
    whole = (Applicability(s.code),)
    docs: list[DocumentSpec] = []
    add = docs.append
    for number, group, security, en_title, nl_title, components, wires in _DIAGRAMS:
        document_id = number.format(s=s.code)
        svg = wiring_svg(en_title.format(s=s.code), components, wires)
        add(
            document(
                document_id,
                DocumentType.WIRING_DIAGRAM,
                group,
                whole,
                (
                    en_title.format(s=s.code),
                    text_lines(
                        f"Wiring diagram for the {s.name} ({s.code}). Components: "
                        + ", ".join(components)
                        + ".",
                        "Wire colours: RD red, BK black, BN brown, GN green, YE yellow, BU blue, "
                        "VT violet, WH white, OG orange, GY grey.",
                        "Measure with the ignition off and the battery disconnected unless a step says "
                        "otherwise. Never probe connectors from the front.",
                    ),
                ),
                (
                    nl_title.format(s=s.code),
                    text_lines(
                        f"Schakelschema voor de {s.name} ({s.code}). Componenten: "
                        + ", ".join(components)
                        + ".",
                        "Draadkleuren: RD rood, BK zwart, BN bruin, GN groen, YE geel, BU blauw, "
                        "VT violet, WH wit, OG oranje, GY grijs.",
                        "Meten met het contact uit en de accu losgenomen tenzij een stap iets anders "
                        "zegt. Stekkers nooit aan de voorkant doormeten.",
                    ),
                ),
                svg=(svg, wiring_svg(nl_title.format(s=s.code), components, wires)),
                security=security,
            )
        )
    return docs
