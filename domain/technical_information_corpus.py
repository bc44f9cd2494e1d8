"""The demo corpus of technical information: invented documents for three demo series (F30,
G30, G05 of `domain/data/demo_vehicles.json`), in English and Dutch, written to read like the
real thing (steps, torque values, part numbers, warnings), with SVG wiring diagrams and some
security-related documents. Nothing here is a manufacturer's text.

`demo_corpus()` gives the documents, `demo_revisions()` the later versions some of them have;
`db.technical_information_seed` stores both (`make dev` and the tests). `generated_corpus(n)`
makes any number of varied documents for the bench.

Pure and deterministic: the same call gives the same documents.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from html import escape

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


def _doc(
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


def _lines(*lines: str) -> str:
    return "\n".join(lines)


def _part(series: Series, suffix: str) -> str:
    return f"{series.part_prefix}{suffix}"


# --- wiring diagrams ---------------------------------------------------------------------------


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


def _series_documents(s: Series) -> list[DocumentSpec]:
    whole = (Applicability(s.code),)
    docs: list[DocumentSpec] = []
    add = docs.append
    add(
        _doc(
            f"RI-{s.code}-3411",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.BRAKES,
            whole,
            (
                f"Replace the front brake pads and brake discs ({s.code})",
                _lines(
                    f"Applies to: {s.name} ({s.code}), all engines.",
                    "Warning: brake dust may contain harmful substances. Do not blow it off with "
                    "compressed air; use a brake cleaner and an extraction device.",
                    "Special tool: 34 1 190 brake piston reset tool.",
                    "1. Raise the vehicle and remove the front wheels.",
                    "2. Disconnect the brake pad wear sensor plug and unclip the cable.",
                    "3. Push the brake piston back with the reset tool. Watch the brake fluid level.",
                    f"4. Remove the brake caliper carrier bolts. Torque on refitting: {s.caliper_nm} Nm.",
                    "5. Remove the retaining screw and the brake disc. Clean the hub contact face.",
                    "6. Fit the new brake disc, tighten the retaining screw to 16 Nm.",
                    "7. Fit the new brake pads and a new wear sensor (always replace the sensor).",
                    f"8. Fit the wheels, wheel bolts {s.wheel_bolt_nm} Nm in a cross pattern.",
                    "9. Press the brake pedal several times until the pads bear on the discs.",
                    "10. Reset the service interval for the brake pads with the diagnosis system.",
                    f"Parts: brake disc {_part(s, '792 217')}, brake pad set {_part(s, '859 066')}, "
                    f"wear sensor {_part(s, '792 289')}.",
                ),
            ),
            (
                f"Remblokken en remschijven voor vervangen ({s.code})",
                _lines(
                    f"Geldt voor: {s.name} ({s.code}), alle motoren.",
                    "Waarschuwing: remstof kan schadelijke stoffen bevatten. Niet wegblazen met "
                    "perslucht; gebruik remmenreiniger en een afzuiging.",
                    "Speciaal gereedschap: 34 1 190 terugzetgereedschap voor remzuigers.",
                    "1. Auto opkrikken en de voorwielen demonteren.",
                    "2. Stekker van de remblokslijtagesensor losnemen en de kabel losklikken.",
                    "3. Remzuiger terugdrukken met het terugzetgereedschap. Let op het remvloeistofniveau.",
                    f"4. Bouten van de remklauwdrager verwijderen. Aanhaalmoment: {s.caliper_nm} Nm.",
                    "5. Borgschroef en remschijf verwijderen. Aanlegvlak van de naaf reinigen.",
                    "6. Nieuwe remschijf plaatsen, borgschroef vastzetten met 16 Nm.",
                    "7. Nieuwe remblokken en een nieuwe slijtagesensor plaatsen.",
                    f"8. Wielen monteren, wielbouten {s.wheel_bolt_nm} Nm kruiselings.",
                    "9. Rempedaal meerdere keren intrappen tot de blokken tegen de schijven liggen.",
                    "10. Service-interval van de remblokken terugzetten met het diagnosesysteem.",
                    f"Onderdelen: remschijf {_part(s, '792 217')}, remblokset {_part(s, '859 066')}, "
                    f"slijtagesensor {_part(s, '792 289')}.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-1141",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            whole,
            (
                f"Change the engine oil and the oil filter ({s.code}, {s.engine})",
                _lines(
                    "Warning: hot engine oil causes burns. Let the engine cool below 60 °C.",
                    f"Oil capacity with filter: {s.oil_litres} litres, approved oil Longlife-04 0W-30.",
                    "1. Remove the underbody panel (7 screws).",
                    "2. Unscrew the oil filter cover with the 86 mm socket and drain the filter housing.",
                    "3. Remove the drain plug and drain the oil. Replace the sealing ring.",
                    "4. Fit the drain plug: torque 25 Nm.",
                    "5. Replace the oil filter element and the O-rings of the cover. Cover: 25 Nm.",
                    "6. Fill the oil, run the engine for one minute, check the level electronically.",
                    "7. Reset the oil service in the condition based service menu.",
                    "Parts: oil filter element 11 42 8 575 211, drain plug 07 11 9 963 151.",
                ),
            ),
            (
                f"Motorolie en oliefilter verversen ({s.code}, {s.engine})",
                _lines(
                    "Waarschuwing: hete motorolie veroorzaakt brandwonden. Motor laten afkoelen tot "
                    "onder 60 °C.",
                    f"Inhoud met filter: {s.oil_litres} liter, goedgekeurde olie Longlife-04 0W-30.",
                    "1. Bodemplaat demonteren (7 schroeven).",
                    "2. Oliefilterdeksel met de 86 mm dop losdraaien en het filterhuis laten leeglopen.",
                    "3. Aftapplug verwijderen en de olie aftappen. Afdichtring vervangen.",
                    "4. Aftapplug plaatsen: aanhaalmoment 25 Nm.",
                    "5. Filterelement en O-ringen van het deksel vervangen. Deksel: 25 Nm.",
                    "6. Olie bijvullen, motor een minuut laten draaien, peil elektronisch controleren.",
                    "7. Olieservice terugzetten in het menu conditiegebonden onderhoud.",
                    "Onderdelen: oliefilterelement 11 42 8 575 211, aftapplug 07 11 9 963 151.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-1211",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            whole,
            (
                f"Replace the spark plugs or glow plugs ({s.code})",
                _lines(
                    "Warning: work only with the ignition off and the key out of the vehicle.",
                    "1. Remove the engine cover and the ignition coils or glow plug connectors.",
                    "2. Blow out the plug wells before removing the plugs.",
                    "3. Unscrew the plugs with a 14 mm thin-wall plug socket.",
                    "4. Fit new plugs by hand first; spark plugs 23 Nm, glow plugs 10 Nm.",
                    "5. Refit the coils, check the fault memory for misfire entries.",
                    "Parts: spark plug 12 12 0 037 244, glow plug 12 23 8 591 883.",
                ),
            ),
            (
                f"Bougies of gloeibougies vervangen ({s.code})",
                _lines(
                    "Waarschuwing: alleen werken met het contact uit en de sleutel buiten de auto.",
                    "1. Motorafdekking en bobines of gloeibougiestekkers demonteren.",
                    "2. Bougieschachten uitblazen voordat de bougies eruit gaan.",
                    "3. Bougies losdraaien met een dunwandige 14 mm bougiedop.",
                    "4. Nieuwe bougies eerst met de hand indraaien; bougies 23 Nm, gloeibougies 10 Nm.",
                    "5. Bobines terugplaatsen, foutgeheugen controleren op overslagmeldingen.",
                    "Onderdelen: bougie 12 12 0 037 244, gloeibougie 12 23 8 591 883.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-6121",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ELECTRICAL,
            whole,
            (
                f"Replace and register the 12 V battery ({s.code})",
                _lines(
                    "Warning: disconnect the negative terminal first and connect it last. Charge "
                    "with a charger of at least 50 A while coding.",
                    "1. Switch off all consumers, lock the vehicle and wait 3 minutes.",
                    "2. Disconnect the intelligent battery sensor (IBS) at the negative terminal.",
                    "3. Remove the holding bracket (8 Nm) and the vent hose.",
                    "4. Fit the new AGM battery of the same capacity and technology.",
                    "5. Connect the positive terminal, then the negative terminal: 9 Nm.",
                    "6. Register the battery replacement with the diagnosis system.",
                    "Parts: AGM battery 90 Ah 61 21 7 604 808, vent hose 61 21 9 302 549.",
                ),
            ),
            (
                f"12V-accu vervangen en aanmelden ({s.code})",
                _lines(
                    "Waarschuwing: eerst de minpool losnemen en als laatste aansluiten. Tijdens het "
                    "coderen laden met een lader van minstens 50 A.",
                    "1. Alle verbruikers uitschakelen, auto vergrendelen en 3 minuten wachten.",
                    "2. Intelligente accusensor (IBS) aan de minpool losnemen.",
                    "3. Klemstuk (8 Nm) en ontluchtingsslang verwijderen.",
                    "4. Nieuwe AGM-accu met gelijke capaciteit en techniek plaatsen.",
                    "5. Pluspool aansluiten, dan de minpool: 9 Nm.",
                    "6. Accuvervanging aanmelden met het diagnosesysteem.",
                    "Onderdelen: AGM-accu 90 Ah 61 21 7 604 808, ontluchtingsslang 61 21 9 302 549.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-3121",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.SUSPENSION,
            whole,
            (
                f"Replace the front wheel bearing ({s.code})",
                _lines(
                    "Warning: the axle nut is a stretch nut; always replace it.",
                    "1. Remove the wheel, the brake caliper and the brake disc.",
                    "2. Loosen the axle nut with the vehicle on its wheels: 290 Nm plus 60°.",
                    "3. Remove the wheel speed sensor (8 Nm).",
                    "4. Remove the four wheel bearing bolts and pull off the bearing unit.",
                    "5. Fit the new bearing unit, bolts 56 Nm plus 90°.",
                    "6. Fit a new axle nut: 290 Nm plus 60°.",
                    "Parts: wheel bearing unit 31 20 6 876 844, axle nut 33 41 6 852 225.",
                ),
            ),
            (
                f"Wiellager voor vervangen ({s.code})",
                _lines(
                    "Waarschuwing: de asmoer is een rekmoer; altijd vervangen.",
                    "1. Wiel, remklauw en remschijf demonteren.",
                    "2. Asmoer losdraaien met de auto op de wielen: 290 Nm plus 60°.",
                    "3. Wieltoerentalsensor verwijderen (8 Nm).",
                    "4. Vier bouten van het wiellager verwijderen en de lagereenheid afnemen.",
                    "5. Nieuwe lagereenheid plaatsen, bouten 56 Nm plus 90°.",
                    "6. Nieuwe asmoer plaatsen: 290 Nm plus 60°.",
                    "Onderdelen: wiellagereenheid 31 20 6 876 844, asmoer 33 41 6 852 225.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-1151",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            whole,
            (
                f"Replace the electric coolant pump ({s.code})",
                _lines(
                    "Warning: the cooling system is under pressure when hot. Open it only when cold.",
                    "1. Drain the coolant at the radiator drain plug (2 Nm).",
                    "2. Disconnect the pump's plug and the coolant hoses.",
                    "3. Remove the three pump bolts (10 Nm) and the pump.",
                    "4. Fit the new pump with new O-rings, bolts 10 Nm.",
                    "5. Fill and bleed the cooling system with the bleeding program of the diagnosis "
                    "system.",
                    "Parts: electric coolant pump 11 51 8 635 089, O-ring set 11 53 7 555 289.",
                ),
            ),
            (
                f"Elektrische koelvloeistofpomp vervangen ({s.code})",
                _lines(
                    "Waarschuwing: het koelsysteem staat warm onder druk. Alleen koud openen.",
                    "1. Koelvloeistof aftappen aan de aftapplug van de radiateur (2 Nm).",
                    "2. Stekker en koelvloeistofslangen van de pomp losnemen.",
                    "3. Drie pompbouten (10 Nm) en de pomp verwijderen.",
                    "4. Nieuwe pomp met nieuwe O-ringen plaatsen, bouten 10 Nm.",
                    "5. Koelsysteem vullen en ontluchten met het ontluchtingsprogramma.",
                    "Onderdelen: elektrische koelvloeistofpomp 11 51 8 635 089, O-ringset "
                    "11 53 7 555 289.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-6411",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.CLIMATE,
            whole,
            (
                f"Replace the cabin microfilter ({s.code})",
                _lines(
                    "1. Open the glove box and remove the filter cover.",
                    "2. Pull out both filter elements.",
                    "3. Fit the new activated carbon filters, arrow towards the blower.",
                    "Parts: microfilter set 64 11 9 237 555.",
                ),
            ),
            (
                f"Interieurfilter vervangen ({s.code})",
                _lines(
                    "1. Dashboardkastje openen en de filterafdekking verwijderen.",
                    "2. Beide filterelementen uittrekken.",
                    "3. Nieuwe actieve-koolfilters plaatsen, pijl naar de aanjager.",
                    "Onderdelen: interieurfilterset 64 11 9 237 555.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-6311",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.LIGHTING,
            whole,
            (
                f"Remove and install the left headlight ({s.code})",
                _lines(
                    "Warning: LED headlights carry high voltage at the driver module. Disconnect the "
                    "plug with the lights off.",
                    "1. Remove the front bumper trim.",
                    "2. Remove the four headlight screws (5 Nm).",
                    "3. Disconnect the plug and take out the headlight.",
                    "4. After fitting, adjust the headlight aim and initialise the levelling.",
                    "Parts: LED headlight left 63 11 7 419 633.",
                ),
            ),
            (
                f"Koplamp links uit- en inbouwen ({s.code})",
                _lines(
                    "Waarschuwing: LED-koplampen voeren hoogspanning bij de stuurmodule. Stekker "
                    "losnemen met de verlichting uit.",
                    "1. Bumperbekleding voor demonteren.",
                    "2. Vier koplampschroeven verwijderen (5 Nm).",
                    "3. Stekker losnemen en de koplamp uitnemen.",
                    "4. Na montage de koplamp afstellen en de hoogteregeling initialiseren.",
                    "Onderdelen: LED-koplamp links 63 11 7 419 633.",
                ),
            ),
        )
    )
    for number, group, security, en_title, nl_title, components, wires in _DIAGRAMS:
        document_id = number.format(s=s.code)
        svg = wiring_svg(en_title.format(s=s.code), components, wires)
        add(
            _doc(
                document_id,
                DocumentType.WIRING_DIAGRAM,
                group,
                whole,
                (
                    en_title.format(s=s.code),
                    _lines(
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
                    _lines(
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
    add(
        _doc(
            f"SIB-{s.code}-3105",
            DocumentType.SERVICE_BULLETIN,
            SystemGroup.SUSPENSION,
            whole,
            (
                f"Knocking noise from the rear axle over bumps ({s.code})",
                _lines(
                    "Complaint: a knocking noise from the rear axle when driving over bumps at low "
                    "speed.",
                    "Cause: the rear anti-roll bar link bushes settle.",
                    "Repair: replace both anti-roll bar links; nuts 56 Nm with the vehicle on its "
                    "wheels.",
                    "Parts: anti-roll bar link 33 50 6 861 481 (2 pieces).",
                    "Labour: 33 55 020, 0.6 hours.",
                ),
            ),
            (
                f"Klopgeluid van de achteras over drempels ({s.code})",
                _lines(
                    "Klacht: een klopgeluid van de achteras bij langzaam rijden over drempels.",
                    "Oorzaak: de rubbers van de stabilisatorstangen achter zetten zich.",
                    "Reparatie: beide stabilisatorstangen vervangen; moeren 56 Nm met de auto op de "
                    "wielen.",
                    "Onderdelen: stabilisatorstang 33 50 6 861 481 (2 stuks).",
                    "Arbeid: 33 55 020, 0,6 uur.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"SIB-{s.code}-1208",
            DocumentType.SERVICE_BULLETIN,
            SystemGroup.ENGINE,
            (Applicability(s.code, s.type_codes[0]),),
            (
                f"Engine judders when cold: program the engine control unit ({s.code})",
                _lines(
                    f"Applies to type code {s.type_codes[0]} only.",
                    "Complaint: the engine judders for up to 30 seconds after a cold start below 5 °C.",
                    "Repair: program the engine control unit (DME/DDE) with the current integration "
                    "level. Connect a battery charger of at least 70 A.",
                    "Labour: 12 00 520, 0.8 hours.",
                ),
            ),
            (
                f"Motor schudt koud: motorregeleenheid programmeren ({s.code})",
                _lines(
                    f"Geldt alleen voor typecode {s.type_codes[0]}.",
                    "Klacht: de motor schudt tot 30 seconden na een koude start onder 5 °C.",
                    "Reparatie: motorregeleenheid (DME/DDE) programmeren met het actuele "
                    "integratieniveau. Een acculader van minstens 70 A aansluiten.",
                    "Arbeid: 12 00 520, 0,8 uur.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"IS-{s.code}-0001",
            DocumentType.INSPECTION_SHEET,
            SystemGroup.BODY,
            whole,
            (
                f"Vehicle inspection sheet ({s.code})",
                _lines(
                    "Check and record: lights and horn; wipers and washer fluid; tyres (tread at least "
                    "3 mm, pressure); brake pads and discs; brake fluid age (every 2 years); steering "
                    "play; exhaust system; underbody and fuel lines; seat belts; first aid kit.",
                    "Road test: brakes, steering, noises, driver assistance messages.",
                ),
            ),
            (
                f"Keuringsblad voertuig ({s.code})",
                _lines(
                    "Controleren en noteren: verlichting en claxon; ruitenwissers en sproeiervloeistof; "
                    "banden (profiel minstens 3 mm, spanning); remblokken en remschijven; leeftijd "
                    "remvloeistof (elke 2 jaar); stuurspeling; uitlaatsysteem; bodem en brandstofleidingen; "
                    "veiligheidsgordels; verbandtrommel.",
                    "Proefrit: remmen, besturing, geluiden, meldingen van rijhulpsystemen.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"FC-{s.code}-130308",
            DocumentType.FAULT_CODE,
            SystemGroup.ELECTRICAL,
            whole,
            (
                f"Fault code 130308: intelligent battery sensor, signal implausible ({s.code})",
                _lines(
                    "Condition: the battery sensor reports a voltage that differs from the DME's "
                    "measurement by more than 0.5 V for 10 seconds.",
                    "Possible causes: loose negative terminal, corroded ground point, faulty IBS.",
                    "Test: measure the voltage between the battery posts and at the IBS (difference "
                    "below 0.2 V). Check the ground connection at the body (9 Nm).",
                ),
            ),
            (
                f"Foutcode 130308: intelligente accusensor, signaal niet plausibel ({s.code})",
                _lines(
                    "Voorwaarde: de accusensor meldt een spanning die meer dan 0,5 V van de meting "
                    "van de DME afwijkt, 10 seconden lang.",
                    "Mogelijke oorzaken: losse minpool, gecorrodeerd massapunt, defecte IBS.",
                    "Test: spanning tussen de accupolen en aan de IBS meten (verschil onder 0,2 V). "
                    "Massaverbinding aan de carrosserie controleren (9 Nm).",
                ),
            ),
        )
    )
    add(
        _doc(
            f"FC-{s.code}-2A82",
            DocumentType.FAULT_CODE,
            SystemGroup.ENGINE,
            whole,
            (
                f"Fault code 2A82: VANOS intake, position not reached ({s.code})",
                _lines(
                    "Condition: the intake camshaft does not reach its target position within 1 s.",
                    "Possible causes: low oil level, dirty VANOS solenoid valve, worn timing chain.",
                    "Test: check the oil level; swap the intake and exhaust solenoid valves and read "
                    "the fault memory again. Solenoid valve torque: 30 Nm.",
                ),
            ),
            (
                f"Foutcode 2A82: VANOS inlaat, positie niet bereikt ({s.code})",
                _lines(
                    "Voorwaarde: de inlaatnokkenas bereikt de doelpositie niet binnen 1 s.",
                    "Mogelijke oorzaken: laag oliepeil, vervuild VANOS-magneetventiel, versleten "
                    "distributieketting.",
                    "Test: oliepeil controleren; magneetventielen inlaat en uitlaat verwisselen en het "
                    "foutgeheugen opnieuw uitlezen. Aanhaalmoment magneetventiel: 30 Nm.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"LT-{s.code}-34",
            DocumentType.LABOUR_TIMES,
            SystemGroup.BRAKES,
            whole,
            (
                f"Standard labour times: brakes ({s.code})",
                _lines(
                    "34 11 010 Replace front brake pads: 0.7 hours.",
                    "34 11 020 Replace front brake pads and discs: 1.1 hours.",
                    "34 21 010 Replace rear brake pads: 0.8 hours.",
                    "34 00 500 Change the brake fluid: 0.5 hours.",
                ),
            ),
            (
                f"Standaard arbeidstijden: remmen ({s.code})",
                _lines(
                    "34 11 010 Remblokken voor vervangen: 0,7 uur.",
                    "34 11 020 Remblokken en remschijven voor vervangen: 1,1 uur.",
                    "34 21 010 Remblokken achter vervangen: 0,8 uur.",
                    "34 00 500 Remvloeistof verversen: 0,5 uur.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"ST-{s.code}-341190",
            DocumentType.SPECIAL_TOOL,
            SystemGroup.BRAKES,
            whole,
            (
                f"Special tool 34 1 190: brake piston reset tool ({s.code})",
                _lines(
                    "Use: pushes the brake caliper piston back evenly when fitting new pads.",
                    "Contents: spindle, two pressure plates, adapter for the electric parking brake "
                    "caliper.",
                    "Order number: 83 30 2 456 781.",
                ),
            ),
            (
                f"Speciaal gereedschap 34 1 190: terugzetgereedschap voor remzuigers ({s.code})",
                _lines(
                    "Gebruik: drukt de remzuiger gelijkmatig terug bij het plaatsen van nieuwe "
                    "remblokken.",
                    "Inhoud: spindel, twee drukplaten, adapter voor de remklauw met elektrische "
                    "parkeerrem.",
                    "Bestelnummer: 83 30 2 456 781.",
                ),
            ),
        )
    )
    add(
        _doc(
            f"RI-{s.code}-6621",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.SECURITY,
            whole,
            (
                f"Add a vehicle key and program it ({s.code})",
                _lines(
                    "Security-related: only for people with a SERMI approval. Every key added is "
                    "recorded with the person's approval.",
                    "1. Order the key with the VIN and the approval reference.",
                    "2. Connect the diagnosis system and a battery charger.",
                    "3. Place all existing keys and the new key in the vehicle.",
                    "4. Start key programming in the body domain controller; follow the prompts.",
                    "5. Check that every key unlocks, locks and starts the engine.",
                    "Parts: key blank 66 12 8 723 596.",
                ),
            ),
            (
                f"Sleutel toevoegen en programmeren ({s.code})",
                _lines(
                    "Beveiligingsgerelateerd: alleen voor personen met een SERMI-goedkeuring. Elke "
                    "toegevoegde sleutel wordt vastgelegd met de goedkeuring van de persoon.",
                    "1. Sleutel bestellen met het chassisnummer en de goedkeuringsreferentie.",
                    "2. Diagnosesysteem en acculader aansluiten.",
                    "3. Alle bestaande sleutels en de nieuwe sleutel in de auto leggen.",
                    "4. Sleutelprogrammering starten in de BDC; de aanwijzingen volgen.",
                    "5. Controleren dat elke sleutel ontgrendelt, vergrendelt en de motor start.",
                    "Onderdelen: sleutelblank 66 12 8 723 596.",
                ),
            ),
            security=True,
        )
    )
    add(
        _doc(
            f"RI-{s.code}-6631",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.SECURITY,
            whole,
            (
                f"Replace the immobiliser control unit (BDC) ({s.code})",
                _lines(
                    "Security-related: only for people with a SERMI approval.",
                    "Warning: after replacement the engine does not start until the control unit is "
                    "matched with the DME online.",
                    "1. Read the vehicle order and save the coding data.",
                    "2. Remove the BDC (4 nuts, 8 Nm) behind the glove box.",
                    "3. Fit the new BDC, match it online with the immobiliser data.",
                    "4. Code the vehicle and test every key.",
                    "Parts: body domain controller 61 35 9 389 021.",
                ),
            ),
            (
                f"Startonderbreker-regeleenheid (BDC) vervangen ({s.code})",
                _lines(
                    "Beveiligingsgerelateerd: alleen voor personen met een SERMI-goedkeuring.",
                    "Waarschuwing: na vervanging start de motor pas als de regeleenheid online met de "
                    "DME is gekoppeld.",
                    "1. Voertuigopdracht uitlezen en de coderingsgegevens opslaan.",
                    "2. BDC achter het dashboardkastje demonteren (4 moeren, 8 Nm).",
                    "3. Nieuwe BDC plaatsen en online koppelen met de startonderbrekergegevens.",
                    "4. Auto coderen en elke sleutel testen.",
                    "Onderdelen: body domain controller 61 35 9 389 021.",
                ),
            ),
            security=True,
        )
    )
    return docs


def _f30_extras() -> list[DocumentSpec]:
    """Documents whose applicability narrows to part of the F30's production."""
    early = (Applicability("F30", "8E51", None, date(2014, 12, 31)),)
    later = (Applicability("F30", "8E51", date(2015, 1, 1), date(2019, 2, 28)),)
    return [
        _doc(
            "RI-F30-1131",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            early,
            (
                "Replace the timing chain, early production (F30 320d up to 12/2014)",
                _lines(
                    "Applies to vehicles produced up to 31 December 2014.",
                    "Warning: never turn the engine against its direction of rotation.",
                    "Special tools: 11 9 340 camshaft locking tool, 11 9 590 chain tensioner tool.",
                    "1. Remove the gearbox and the flywheel (8 bolts, 120 Nm plus 90° on refitting).",
                    "2. Lock the camshafts and the crankshaft in the TDC position.",
                    "3. Replace the timing chain, the tensioner rail and the guide rails.",
                    "Parts: timing chain kit 11 31 8 586 234.",
                ),
            ),
            (
                "Distributieketting vervangen, vroege productie (F30 320d tot 12/2014)",
                _lines(
                    "Geldt voor auto's geproduceerd tot 31 december 2014.",
                    "Waarschuwing: de motor nooit tegen de draairichting in draaien.",
                    "Speciaal gereedschap: 11 9 340 nokkenasborging, 11 9 590 kettingspanner.",
                    "1. Versnellingsbak en vliegwiel demonteren (8 bouten, 120 Nm plus 90°).",
                    "2. Nokkenassen en krukas in het BDP vastzetten.",
                    "3. Distributieketting, spanrail en geleiderails vervangen.",
                    "Onderdelen: distributiekettingset 11 31 8 586 234.",
                ),
            ),
        ),
        _doc(
            "RI-F30-1132",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            later,
            (
                "Replace the timing chain (F30 320d from 01/2015)",
                _lines(
                    "Applies to vehicles produced from 1 January 2015.",
                    "Warning: never turn the engine against its direction of rotation.",
                    "Special tools: 11 9 340 camshaft locking tool, 11 9 591 chain tensioner tool.",
                    "1. Remove the gearbox and the flywheel (8 bolts, 120 Nm plus 90° on refitting).",
                    "2. Lock the camshafts and the crankshaft in the TDC position.",
                    "3. Replace the timing chain with the reinforced tensioner rail.",
                    "Parts: timing chain kit 11 31 8 638 221.",
                ),
            ),
            (
                "Distributieketting vervangen (F30 320d vanaf 01/2015)",
                _lines(
                    "Geldt voor auto's geproduceerd vanaf 1 januari 2015.",
                    "Waarschuwing: de motor nooit tegen de draairichting in draaien.",
                    "Speciaal gereedschap: 11 9 340 nokkenasborging, 11 9 591 kettingspanner.",
                    "1. Versnellingsbak en vliegwiel demonteren (8 bouten, 120 Nm plus 90°).",
                    "2. Nokkenassen en krukas in het BDP vastzetten.",
                    "3. Distributieketting met versterkte spanrail vervangen.",
                    "Onderdelen: distributiekettingset 11 31 8 638 221.",
                ),
            ),
        ),
    ]


def _campaigns() -> list[DocumentSpec]:
    """The documents of the technical actions the demo vehicles list."""
    campaigns = (
        ("0011190300", "F30", "8E51", SystemGroup.EXHAUST,
         "Technical campaign 0011190300: replace the exhaust gas recirculation cooler",
         "Technische actie 0011190300: uitlaatgasrecirculatiekoeler vervangen",
         "Coolant may leak inside the EGR cooler. Replace the EGR cooler and its gaskets; "
         "clamps 8 Nm, flange bolts 22 Nm. Parts: EGR cooler 11 71 8 580 437.",
         "Koelvloeistof kan in de EGR-koeler lekken. EGR-koeler en pakkingen vervangen; "
         "klemmen 8 Nm, flensbouten 22 Nm. Onderdelen: EGR-koeler 11 71 8 580 437."),
        ("6113700200", "F30", "8E51", SystemGroup.ENGINE,
         "Technical campaign 6113700200: update the engine control unit software",
         "Technische actie 6113700200: software van de motorregeleenheid bijwerken",
         "Program the DDE with integration level F020-19-03-550 or later. Connect a charger "
         "of at least 70 A. Duration about 40 minutes.",
         "DDE programmeren met integratieniveau F020-19-03-550 of later. Een lader van "
         "minstens 70 A aansluiten. Duur ongeveer 40 minuten."),
        ("6111870400", "G30", None, SystemGroup.ELECTRICAL,
         "Technical campaign 6111870400: inspect the positive battery cable in the luggage "
         "compartment",
         "Technische actie 6111870400: pluskabel van de accu in de bagageruimte controleren",
         "Check the positive cable at the battery for chafing against the bracket. Fit the "
         "protective sleeve 61 12 8 738 112; terminal nut 9 Nm.",
         "Pluskabel bij de accu controleren op schuren tegen de houder. Beschermhuls "
         "61 12 8 738 112 aanbrengen; polmoer 9 Nm."),
        ("0032360100", "G05", None, SystemGroup.BODY,
         "Technical campaign 0032360100: check the mounting of the rear seat backrest",
         "Technische actie 0032360100: bevestiging van de achterbankleuning controleren",
         "Check the backrest lock bolts for the torque of 52 Nm; replace bolts marked "
         "without a green dot. Parts: bolt 52 20 7 491 221.",
         "Vergrendelbouten van de leuning controleren op 52 Nm; bouten zonder groene stip "
         "vervangen. Onderdelen: bout 52 20 7 491 221."),
        ("6123440100", "G05", "CR65", SystemGroup.SUSPENSION,
         "Technical campaign 6123440100: program the integrated chassis management",
         "Technische actie 6123440100: geïntegreerd chassisbeheer programmeren",
         "Program the ICM control unit with integration level G005-23-03-530. Calibrate the "
         "steering angle sensor afterwards.",
         "ICM-regeleenheid programmeren met integratieniveau G005-23-03-530. Daarna de "
         "stuurhoeksensor kalibreren."),
    )  # fmt: skip
    return [
        _doc(
            f"TC-{action}",
            DocumentType.TECHNICAL_CAMPAIGN,
            group,
            (Applicability(series, type_code),),
            (en_title, en_body),
            (nl_title, nl_body),
            action_id=action,
        )
        for action, series, type_code, group, en_title, nl_title, en_body, nl_body in campaigns
    ]


def demo_corpus() -> list[DocumentSpec]:
    """The demo documents: every series' set, the F30's date-bound ones and the campaigns."""
    documents = [doc for series in SERIES for doc in _series_documents(series)]
    return documents + _f30_extras() + _campaigns()


def demo_revisions() -> list[Revision]:
    """Later versions of some demo documents (the first stays readable, superseded)."""
    s = SERIES[0]
    return [
        Revision(
            "RI-F30-3411",
            "Caliper carrier bolts are stretch bolts from now on: always replace them.",
            (
                DocumentText(EN, f"Replace the front brake pads and brake discs ({s.code})", _lines(
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
                    f"Parts: brake disc {_part(s, '792 217')}, brake pad set "
                    f"{_part(s, '859 066')}, carrier bolt 34 11 6 799 910 (2 per side).",
                )),
                DocumentText(NL, f"Remblokken en remschijven voor vervangen ({s.code})", _lines(
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
                    f"Onderdelen: remschijf {_part(s, '792 217')}, remblokset "
                    f"{_part(s, '859 066')}, dragerbout 34 11 6 799 910 (2 per kant).",
                )),
            ),
        )
    ]  # fmt: skip


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
        body = _lines(
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
