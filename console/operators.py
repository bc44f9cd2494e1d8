"""What the operators' pages show, gathered with the use cases the JSON API calls.

Registrations under review and the decision (`/admin/registrations`, `decide_registration`),
the flow search (`application.operations.search_flows`, as `GET /flows`), a flow's timeline
(`flow_timeline`) and its state diagram: the same Mermaid text
`GET /flows/types/{type}/diagram?workflow_id=` serves, read back into states and transitions
so the page draws it as plain HTML with the current state marked (no diagram script from
another site), and the outbox of the embedded mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from application.operations import MACHINES, Timeline, flow_timeline, state_diagram
from application.resources import AppResources
from db.models import User

# A Mermaid `stateDiagram-v2` as python-statemachine writes it.
_STATE = re.compile(r'^state "(?P<label>[^"]*)" as (?P<id>\w+)$')
_TRANSITION = re.compile(
    r"^(?P<source>\[\*\]|\w+) --> (?P<target>\[\*\]|\w+)(?: : (?P<event>.+))?$"
)
_ACTIVE = re.compile(r"^(?P<id>\w+):::active$")
START_OR_END = "[*]"


@dataclass
class DiagramState:
    id: str
    label: str
    active: bool = False
    initial: bool = False
    final: bool = False


@dataclass
class DiagramTransition:
    source: str
    target: str
    event: str


@dataclass
class StateDiagram:
    """A flow's states and transitions, read from the Mermaid text the API serves."""

    source: str
    states: list[DiagramState] = field(default_factory=list)
    transitions: list[DiagramTransition] = field(default_factory=list)

    @property
    def active(self) -> DiagramState | None:
        return next((state for state in self.states if state.active), None)

    def label(self, state_id: str) -> str:
        return next((s.label for s in self.states if s.id == state_id), state_id)


def read_mermaid(source: str) -> StateDiagram:
    """The states (in the machine's order) and transitions of a `stateDiagram-v2`."""
    diagram = StateDiagram(source=source)
    by_id: dict[str, DiagramState] = {}
    for raw in source.splitlines():
        line = raw.strip()
        if match := _STATE.match(line):
            state = DiagramState(id=match["id"], label=match["label"])
            by_id[state.id] = state
            diagram.states.append(state)
        elif match := _TRANSITION.match(line):
            source_id, target_id = match["source"], match["target"]
            if source_id == START_OR_END and target_id in by_id:
                by_id[target_id].initial = True
            elif target_id == START_OR_END and source_id in by_id:
                by_id[source_id].final = True
            else:
                diagram.transitions.append(
                    DiagramTransition(source_id, target_id, match["event"] or "")
                )
        elif (match := _ACTIVE.match(line)) and match["id"] in by_id:
            by_id[match["id"]].active = True
    return diagram


@dataclass
class FlowDetail:
    timeline: Timeline
    diagram: StateDiagram | None  # None: the flow's type has no business state machine


async def flow_detail(resources: AppResources, user: User, workflow_id: str) -> FlowDetail:
    """A flow's timeline and, when its type has a state machine, its diagram with the current
    state marked; another workshop's flow is `not-found` like an unknown one."""
    timeline = await flow_timeline(resources, user, workflow_id)
    diagram = None
    if timeline.type in MACHINES:
        diagram = read_mermaid(await state_diagram(resources, user, timeline.type, workflow_id))
    return FlowDetail(timeline=timeline, diagram=diagram)
