"""Documents that are not one per series: the F30's date-bound ones and the campaigns of the
technical actions."""

from __future__ import annotations

from datetime import date

from domain.technical_information import Applicability, DocumentSpec, DocumentType, SystemGroup
from domain.technical_information_corpus.writing import document, text_lines


def f30_date_bound() -> list[DocumentSpec]:
    """Documents whose applicability narrows to part of the F30's production."""
    early = (Applicability("F30", "8E51", None, date(2014, 12, 31)),)
    later = (Applicability("F30", "8E51", date(2015, 1, 1), date(2019, 2, 28)),)
    return [
        document(
            "RI-F30-1131",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            early,
            (
                "Replace the timing chain, early production (F30 320d up to 12/2014)",
                text_lines(
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
                text_lines(
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
        document(
            "RI-F30-1132",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            later,
            (
                "Replace the timing chain (F30 320d from 01/2015)",
                text_lines(
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
                text_lines(
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


def campaigns() -> list[DocumentSpec]:
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
        document(
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
