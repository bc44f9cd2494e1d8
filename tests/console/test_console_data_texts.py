"""Texts that reach the console as data (the seed's technical actions, the simulated flash
package's description) are marked for the catalogues in `console/data_texts.py`; the marks must
stay the data's texts word for word, or the pages would show them in English."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from console.data_texts import PACKAGE_DESCRIPTIONS, TECHNICAL_ACTION_TITLES, data_text
from console.i18n import Translator
from domain.demo_vehicles import load_demo_vehicles
from hw.sim.demo_package import DEMO_PACKAGE_DESCRIPTION

DUTCH = Translator("nl", ZoneInfo("Europe/Amsterdam"))


def test_the_marked_texts_are_the_datas() -> None:
    titles = {action.title for v in load_demo_vehicles() for action in v.technical_actions}
    assert titles == set(TECHNICAL_ACTION_TITLES)
    assert DEMO_PACKAGE_DESCRIPTION in PACKAGE_DESCRIPTIONS


def test_each_is_shown_in_dutch_and_an_unknown_one_as_it_came() -> None:
    for text in (*TECHNICAL_ACTION_TITLES, *PACKAGE_DESCRIPTIONS):
        assert data_text(DUTCH, text) != text, text
    assert data_text(DUTCH, "Flash the gearbox (manufacturer's text)") == (
        "Flash the gearbox (manufacturer's text)"
    )
    assert data_text(DUTCH, "") == ""
