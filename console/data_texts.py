"""Texts that reach the console as data, not from its templates: the technical actions'
titles of the vehicle seed (`domain/data/demo_vehicles.json`) and the simulated flash
package's description (`hw.sim.demo_package`).

Marked here (`N_`) so the catalogues hold their Dutch; a page shows `data_text(translate,
text)`. tests/console/test_console_data_texts.py checks that the marks are the data's texts
word for word. A title or description the catalogues do not know (a manufacturer's package,
an action added to the data without a mark) is shown as it came.
"""

from __future__ import annotations

from console.i18n import N_, Translator

TECHNICAL_ACTION_TITLES = (
    N_("Replace the exhaust gas recirculation cooler"),
    N_("Update the engine control unit software"),
    N_("Inspect the positive battery cable in the luggage compartment"),
    N_("Check the mounting of the rear seat backrest"),
    N_("Programme the integrated chassis management"),
    N_("Replace the rear frame bolts"),
    N_("Update the rear seat entertainment software"),
    N_("Check the fuel pump wiring harness"),
    N_("Update the high-voltage battery management software"),
)
PACKAGE_DESCRIPTIONS = (N_("demo package for the simulated vehicle"),)


def data_text(translate: Translator, text: str | None) -> str:
    """`text` in the page's language when the catalogues have it, else as it came (an empty
    text stays empty: gettext would answer it with the catalogue's header)."""
    return translate._(text) if text else ""
