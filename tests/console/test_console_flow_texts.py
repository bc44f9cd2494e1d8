"""The operators' words for the flows' identifiers (`console/flow_texts.py`): a business state's
label is its state machine's own name of it, every event of a machine is marked, every status
the flow search offers and every history event of Temporal's has words, and all are Dutch."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType

from application.operations import MACHINES, STATUSES
from console.flow_texts import (
    FLOW_EVENT_NAMES,
    FLOW_FILTERS,
    FLOW_STATE_LABELS,
    FLOW_STATUS_LABELS,
    HISTORY_EVENT_LABELS,
)
from console.i18n import Translator
from console.operators import read_mermaid

DUTCH = Translator("nl", ZoneInfo("Europe/Amsterdam"))
# Temporal's event types that none of the portal's flows makes (Nexus, pausing, changes made
# from outside, time skipping): shown readable, in English.
NOT_MADE_BY_THE_PORTAL = (
    "nexus_",
    "workflow_execution_paused",
    "workflow_execution_unpaused",
    "workflow_properties_modified_externally",
    "activity_properties_modified_externally",
    "workflow_execution_time_skipping_transitioned",
)


def test_the_labels_are_the_state_machines_names() -> None:
    for machine in MACHINES.values():
        for state in machine.states:
            assert FLOW_STATE_LABELS[state.id] == state.name, state.id
        for transition in read_mermaid(format(machine, "mermaid")).transitions:  # as drawn
            assert transition.event in FLOW_EVENT_NAMES, transition.event


def test_every_status_and_history_event_has_words() -> None:
    assert set(FLOW_STATUS_LABELS) == set(STATUSES)
    history_events = {
        name.removeprefix("EVENT_TYPE_").lower()
        for name, _number in EventType.items()
        if name != "EVENT_TYPE_UNSPECIFIED"
    }
    unnamed = {
        event
        for event in history_events - set(HISTORY_EVENT_LABELS)
        if not event.startswith(NOT_MADE_BY_THE_PORTAL)
    }
    assert not unnamed, unnamed


def test_each_is_shown_in_dutch() -> None:
    for label in (*FLOW_STATUS_LABELS.values(), *FLOW_STATE_LABELS.values(), *FLOW_EVENT_NAMES):
        assert DUTCH._(label) != label, label
    assert FLOW_FILTERS["flow_state"](DUTCH, "written_to_vehicle") == "In het voertuig geschreven"
    assert FLOW_FILTERS["history_event"](DUTCH, "activity_task_completed") == "Activiteit voltooid"
    # An identifier nobody gave words yet is at least readable.
    assert FLOW_FILTERS["history_event"](DUTCH, "nexus_operation_started") == (
        "Nexus operation started"
    )
    assert FLOW_FILTERS["flow_state"](DUTCH, None) == ""
