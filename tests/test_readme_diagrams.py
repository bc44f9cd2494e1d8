"""The README's state diagrams are the ones the code draws."""

from __future__ import annotations

import re
from pathlib import Path

from application.operations import MACHINES

README = (Path(__file__).parents[1] / "README.md").read_text()
BLOCK = re.compile(r"<!-- diagram: (\w+) -->\n```mermaid\n(.*?)\n```", re.S)


def test_each_state_machine_is_drawn_in_the_readme_as_the_code_draws_it() -> None:
    drawn = dict(BLOCK.findall(README))
    assert set(drawn) == set(MACHINES), "add or remove README diagrams to match the machines"
    for name, machine in MACHINES.items():
        assert drawn[name] == format(machine, "mermaid").rstrip(), (
            f"{name}: the README diagram is out of date; paste GET /flows/types/{name}/diagram"
        )
