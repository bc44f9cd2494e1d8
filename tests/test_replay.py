"""Recorded histories replayed against the current workflow code.

A change that would make a running workflow take a different path on replay (a reordered or
removed activity call, a new timer) fails here, before it can break workflows that are already
running in production. The histories are in tests/histories/, one per workflow type.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from portal_worker import PORTAL_WORKFLOWS, workflow_runner
from temporal_client import data_converter

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))
HISTORY_TEXT = {path: path.read_text() for path in RECORDED}


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded = {path.stem for path in RECORDED}
    missing = {workflow.__name__ for workflow in PORTAL_WORKFLOWS} - recorded
    assert not missing, f"record with AOS_RECORD_HISTORIES=1 make test: {sorted(missing)}"


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(f"recorded-{path.stem}", HISTORY_TEXT[path])
    replayer = Replayer(
        workflows=PORTAL_WORKFLOWS,
        data_converter=data_converter(),
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(history)
