"""The rest of every demo series' set: service bulletins, the inspection sheet, fault codes,
labour times, the special tool and the security-related repairs."""

from __future__ import annotations

from domain.technical_information import Applicability, DocumentSpec, DocumentType, SystemGroup
from domain.technical_information_corpus.writing import Series, document, text_lines


def bulletins_and_references(s: Series) -> list[DocumentSpec]:
    """A series' bulletins, sheets, codes, times, tools and security repairs."""
    whole = (Applicability(s.code),)
    docs: list[DocumentSpec] = []
    add = docs.append
    add(
        document(
            f"SIB-{s.code}-3105",
            DocumentType.SERVICE_BULLETIN,
            SystemGroup.SUSPENSION,
            whole,
            (
                f"Knocking noise from the rear axle over bumps ({s.code})",
                text_lines(
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
                text_lines(
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
        document(
            f"SIB-{s.code}-1208",
            DocumentType.SERVICE_BULLETIN,
            SystemGroup.ENGINE,
            (Applicability(s.code, s.type_codes[0]),),
            (
                f"Engine judders when cold: program the engine control unit ({s.code})",
                text_lines(
                    f"Applies to type code {s.type_codes[0]} only.",
                    "Complaint: the engine judders for up to 30 seconds after a cold start below 5 °C.",
                    "Repair: program the engine control unit (DME/DDE) with the current integration "
                    "level. Connect a battery charger of at least 70 A.",
                    "Labour: 12 00 520, 0.8 hours.",
                ),
            ),
            (
                f"Motor schudt koud: motorregeleenheid programmeren ({s.code})",
                text_lines(
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
        document(
            f"IS-{s.code}-0001",
            DocumentType.INSPECTION_SHEET,
            SystemGroup.BODY,
            whole,
            (
                f"Vehicle inspection sheet ({s.code})",
                text_lines(
                    "Check and record: lights and horn; wipers and washer fluid; tyres (tread at least "
                    "3 mm, pressure); brake pads and discs; brake fluid age (every 2 years); steering "
                    "play; exhaust system; underbody and fuel lines; seat belts; first aid kit.",
                    "Road test: brakes, steering, noises, driver assistance messages.",
                ),
            ),
            (
                f"Keuringsblad voertuig ({s.code})",
                text_lines(
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
        document(
            f"FC-{s.code}-130308",
            DocumentType.FAULT_CODE,
            SystemGroup.ELECTRICAL,
            whole,
            (
                f"Fault code 130308: intelligent battery sensor, signal implausible ({s.code})",
                text_lines(
                    "Condition: the battery sensor reports a voltage that differs from the DME's "
                    "measurement by more than 0.5 V for 10 seconds.",
                    "Possible causes: loose negative terminal, corroded ground point, faulty IBS.",
                    "Test: measure the voltage between the battery posts and at the IBS (difference "
                    "below 0.2 V). Check the ground connection at the body (9 Nm).",
                ),
            ),
            (
                f"Foutcode 130308: intelligente accusensor, signaal niet plausibel ({s.code})",
                text_lines(
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
        document(
            f"FC-{s.code}-2A82",
            DocumentType.FAULT_CODE,
            SystemGroup.ENGINE,
            whole,
            (
                f"Fault code 2A82: VANOS intake, position not reached ({s.code})",
                text_lines(
                    "Condition: the intake camshaft does not reach its target position within 1 s.",
                    "Possible causes: low oil level, dirty VANOS solenoid valve, worn timing chain.",
                    "Test: check the oil level; swap the intake and exhaust solenoid valves and read "
                    "the fault memory again. Solenoid valve torque: 30 Nm.",
                ),
            ),
            (
                f"Foutcode 2A82: VANOS inlaat, positie niet bereikt ({s.code})",
                text_lines(
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
        document(
            f"LT-{s.code}-34",
            DocumentType.LABOUR_TIMES,
            SystemGroup.BRAKES,
            whole,
            (
                f"Standard labour times: brakes ({s.code})",
                text_lines(
                    "34 11 010 Replace front brake pads: 0.7 hours.",
                    "34 11 020 Replace front brake pads and discs: 1.1 hours.",
                    "34 21 010 Replace rear brake pads: 0.8 hours.",
                    "34 00 500 Change the brake fluid: 0.5 hours.",
                ),
            ),
            (
                f"Standaard arbeidstijden: remmen ({s.code})",
                text_lines(
                    "34 11 010 Remblokken voor vervangen: 0,7 uur.",
                    "34 11 020 Remblokken en remschijven voor vervangen: 1,1 uur.",
                    "34 21 010 Remblokken achter vervangen: 0,8 uur.",
                    "34 00 500 Remvloeistof verversen: 0,5 uur.",
                ),
            ),
        )
    )
    add(
        document(
            f"ST-{s.code}-341190",
            DocumentType.SPECIAL_TOOL,
            SystemGroup.BRAKES,
            whole,
            (
                f"Special tool 34 1 190: brake piston reset tool ({s.code})",
                text_lines(
                    "Use: pushes the brake caliper piston back evenly when fitting new pads.",
                    "Contents: spindle, two pressure plates, adapter for the electric parking brake "
                    "caliper.",
                    "Order number: 83 30 2 456 781.",
                ),
            ),
            (
                f"Speciaal gereedschap 34 1 190: terugzetgereedschap voor remzuigers ({s.code})",
                text_lines(
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
        document(
            f"RI-{s.code}-6621",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.SECURITY,
            whole,
            (
                f"Add a vehicle key and program it ({s.code})",
                text_lines(
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
                text_lines(
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
        document(
            f"RI-{s.code}-6631",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.SECURITY,
            whole,
            (
                f"Replace the immobiliser control unit (BDC) ({s.code})",
                text_lines(
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
                text_lines(
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
