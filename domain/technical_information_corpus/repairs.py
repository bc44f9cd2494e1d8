"""The repair instructions every demo series has (brakes, engine, electrics, suspension,
climate, lighting)."""

from __future__ import annotations

from domain.technical_information import Applicability, DocumentSpec, DocumentType, SystemGroup
from domain.technical_information_corpus.writing import Series, document, part_number, text_lines


def repair_instructions(s: Series) -> list[DocumentSpec]:
    """A series' repair instructions."""
    whole = (Applicability(s.code),)
    docs: list[DocumentSpec] = []
    add = docs.append
    add(
        document(
            f"RI-{s.code}-3411",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.BRAKES,
            whole,
            (
                f"Replace the front brake pads and brake discs ({s.code})",
                text_lines(
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
                    f"Parts: brake disc {part_number(s, '792 217')}, brake pad set {part_number(s, '859 066')}, "
                    f"wear sensor {part_number(s, '792 289')}.",
                ),
            ),
            (
                f"Remblokken en remschijven voor vervangen ({s.code})",
                text_lines(
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
                    f"Onderdelen: remschijf {part_number(s, '792 217')}, remblokset {part_number(s, '859 066')}, "
                    f"slijtagesensor {part_number(s, '792 289')}.",
                ),
            ),
        )
    )
    add(
        document(
            f"RI-{s.code}-1141",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            whole,
            (
                f"Change the engine oil and the oil filter ({s.code}, {s.engine})",
                text_lines(
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
                text_lines(
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
        document(
            f"RI-{s.code}-1211",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            whole,
            (
                f"Replace the spark plugs or glow plugs ({s.code})",
                text_lines(
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
                text_lines(
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
        document(
            f"RI-{s.code}-6121",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ELECTRICAL,
            whole,
            (
                f"Replace and register the 12 V battery ({s.code})",
                text_lines(
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
                text_lines(
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
        document(
            f"RI-{s.code}-3121",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.SUSPENSION,
            whole,
            (
                f"Replace the front wheel bearing ({s.code})",
                text_lines(
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
                text_lines(
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
        document(
            f"RI-{s.code}-1151",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.ENGINE,
            whole,
            (
                f"Replace the electric coolant pump ({s.code})",
                text_lines(
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
                text_lines(
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
        document(
            f"RI-{s.code}-6411",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.CLIMATE,
            whole,
            (
                f"Replace the cabin microfilter ({s.code})",
                text_lines(
                    "1. Open the glove box and remove the filter cover.",
                    "2. Pull out both filter elements.",
                    "3. Fit the new activated carbon filters, arrow towards the blower.",
                    "Parts: microfilter set 64 11 9 237 555.",
                ),
            ),
            (
                f"Interieurfilter vervangen ({s.code})",
                text_lines(
                    "1. Dashboardkastje openen en de filterafdekking verwijderen.",
                    "2. Beide filterelementen uittrekken.",
                    "3. Nieuwe actieve-koolfilters plaatsen, pijl naar de aanjager.",
                    "Onderdelen: interieurfilterset 64 11 9 237 555.",
                ),
            ),
        )
    )
    add(
        document(
            f"RI-{s.code}-6311",
            DocumentType.REPAIR_INSTRUCTION,
            SystemGroup.LIGHTING,
            whole,
            (
                f"Remove and install the left headlight ({s.code})",
                text_lines(
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
                text_lines(
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
    return docs
