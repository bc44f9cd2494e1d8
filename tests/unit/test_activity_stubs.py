"""Each activity is declared once, as a stub in contracts/, and implemented once, under its name.

Workflows call the stubs (mypy checks the input and the result of every call); the portal
worker and the station worker register the implementations. An implementation registered
under another name, with other types, or on both workers, or a stub nobody implements, would
fail only when a workflow reaches that call: these tests fail first.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

import contracts
from contracts.stubs import activity_name, implements
from portal_worker import PortalDependencies, portal_activities
from settings import Settings
from station.worker import StationDependencies, station_activities

ROOT = Path(__file__).resolve().parent.parent.parent
HISTORIES = ROOT / "tests" / "histories"

# The names as they stand in histories: renaming one strands every workflow that runs it.
NAMES = {
    "activate_entitlement",
    "announce_remote_key_read",
    "check_entitlement",
    "check_vat_id",
    "confirm_purchase",
    "create_workshop_and_owner",
    "credit_payment",
    "delete_service_entry",
    "end_sermi_approval",
    "end_session_link",
    "find_open_teleservice_tickets",
    "finish_ecu",
    "identify_vehicle",
    "issue_ticket",
    "issue_ticket_invoice",
    "load_service_entry_facts",
    "mark_written_to_vehicle",
    "notify_affected_workshops",
    "notify_reviewers",
    "prepare_ecu",
    "program_ecu",
    "program_segment",
    "read_key_at_station",
    "read_verified_manifest",
    "record_key_read",
    "record_registration_state",
    "record_remote_key_read",
    "record_remote_key_read_request",
    "record_service_entry",
    "record_teleservice_ticket",
    "release_credit",
    "remaining_coverage",
    "reserve_credit",
    "send_mail",
    "send_remote_key_read_request",
    "send_teleservice_ticket_notice",
    "set_document_version_state",
    "settle_payment",
    "write_service_items_to_vehicle",
}


def _definition(fn: Callable[..., Any]) -> Any:
    return activity._Definition.must_from_callable(fn)


def _stubs() -> dict[str, Callable[..., Any]]:
    """Every stub declared in contracts/, by activity name."""
    stubs: dict[str, Callable[..., Any]] = {}
    for module_info in pkgutil.iter_modules(contracts.__path__):
        module = importlib.import_module(f"contracts.{module_info.name}")
        for value in vars(module).values():
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere
            if activity._Definition.from_callable(value) is None:
                continue
            name = activity_name(value)
            assert name not in stubs, f"{name} is declared twice"
            stubs[name] = value
    return stubs


@pytest.fixture
def workers(tmp_path: Path) -> dict[str, list[Callable[..., Any]]]:
    """What each worker registers, built as the workers build it (no server needed)."""
    settings = Settings(data_dir=tmp_path, smtp_host=None)
    portal = portal_activities(PortalDependencies(settings, async_sessionmaker()))
    station = station_activities(
        StationDependencies(
            station_id="unit",
            vehicle_url="sim://",
            packages_dir=tmp_path / "station-packages",
            traces_dir=tmp_path / "traces",
        )
    )
    return {"portal worker": list(portal), "station worker": list(station)}


def test_the_stubs_are_the_activities_histories_know() -> None:
    assert set(_stubs()) == NAMES


def test_the_recorded_histories_call_only_declared_activities() -> None:
    scheduled: set[str] = set()
    for path in HISTORIES.glob("*.json"):
        for event in json.loads(path.read_text())["events"]:
            attributes = event.get("activityTaskScheduledEventAttributes")
            if attributes:
                scheduled.add(attributes["activityType"]["name"])
    assert scheduled and scheduled <= set(_stubs())


def test_every_stub_is_implemented_once_on_one_worker_as_declared(
    workers: dict[str, list[Callable[..., Any]]],
) -> None:
    registered: dict[str, list[tuple[str, Any]]] = {}
    for worker, implementations in workers.items():
        for implementation in implementations:
            definition = _definition(implementation)
            registered.setdefault(definition.name, []).append((worker, definition))

    stubs = _stubs()
    assert set(registered) == set(stubs), "registered without a stub, or a stub not registered"
    for name, stub in stubs.items():
        declared = _definition(stub)
        assert len(registered[name]) == 1, f"{name} is registered {registered[name]}"
        worker, implemented = registered[name][0]
        assert (implemented.arg_types, implemented.ret_type, implemented.is_async) == (
            declared.arg_types,
            declared.ret_type,
            declared.is_async,
        ), f"{name} on the {worker}"
        # one input model per activity, so fields can be added later
        assert len(declared.arg_types) == 1 and issubclass(declared.arg_types[0], BaseModel)


def test_a_stub_says_where_its_activity_runs() -> None:
    for stub in _stubs().values():
        with pytest.raises(NotImplementedError, match=r"runs on the (portal|station) worker"):
            result = stub(_definition(stub).arg_types[0].model_construct())
            if hasattr(result, "send"):  # an async stub: run it
                result.send(None)


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, namespace), node.attr, None)
    return None


def test_workflows_call_activities_by_their_stubs() -> None:
    """No string names and no `result_type=`: mypy checks only calls made with a stub."""
    stubs = list(_stubs().values())
    calls = 0
    for path in sorted((ROOT / "workflows").glob("*.py")):
        module = importlib.import_module(f"workflows.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute_activity", "start_activity")
            ):
                continue
            calls += 1
            where = f"{path.name}:{node.lineno}"
            assert node.args and _resolve(node.args[0], vars(module)) in stubs, where
            assert "result_type" not in {k.arg for k in node.keywords}, where
    assert calls


class Request(BaseModel):
    value: int


class Other(BaseModel):
    value: int


@activity.defn(name="unit_stub")
async def unit_stub(request: Request) -> Request:
    raise NotImplementedError("a unit test's stub")


def test_implements_names_the_method_after_its_stub() -> None:
    class Implementation:
        @implements(unit_stub)
        async def whatever_it_is_called(self, request: Request) -> Request:
            return request

    assert activity_name(Implementation().whatever_it_is_called) == "unit_stub"


class Mismatched:
    """Methods that do not implement `unit_stub`: another input, another result, not async."""

    async def other_input(self, request: Other) -> Request:
        raise AssertionError

    async def other_result(self, request: Request) -> Other:
        raise AssertionError

    def not_async(self, request: Request) -> Request:
        raise AssertionError


@pytest.mark.parametrize(
    "method", [Mismatched.other_input, Mismatched.other_result, Mismatched.not_async]
)
def test_implements_refuses_another_signature_when_imported(method: Callable[..., Any]) -> None:
    # mypy refuses these too (here `Any` hides them from it), the check at import time holds
    # where an annotation was cast or ignored
    decorate: Any = implements(unit_stub)
    with pytest.raises(TypeError, match="does not implement the activity 'unit_stub'"):
        decorate(method)
