"""The pure rules of the service booklet (domain/service_history.py)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import DomainError
from domain.service_history import (
    EntryKind,
    MileageBelowLastKnown,
    MileageImplausible,
    NotDeletable,
    RemarkTooLong,
    ServiceDateInvalid,
    ServiceEntryClosed,
    ServiceEntryMachine,
    ServiceItemsInvalid,
    VehicleServiceItem,
    WrongServiceEntryStep,
    check_deletable,
    check_mileage,
    check_remark,
    check_service_date,
    check_service_items,
    ensure_step,
    reset_service_items,
)

TODAY = date(2025, 3, 10)


def test_mileage_rules() -> None:
    check_mileage(100_000, 100_000, odometer_exchanged=False)
    check_mileage(5, 100_000, odometer_exchanged=True)
    with pytest.raises(MileageBelowLastKnown) as below:
        check_mileage(99_999, 100_000, odometer_exchanged=False)
    assert below.value.field == "mileage_km"
    assert below.value.context["last_known_mileage_km"] == 100_000
    for absurd in (-1, 2_000_001):
        with pytest.raises(MileageImplausible):
            check_mileage(absurd, 0, odometer_exchanged=True)


def test_service_date_and_remark_rules() -> None:
    check_service_date(TODAY, TODAY, date(2015, 3, 12))
    with pytest.raises(ServiceDateInvalid, match="future"):
        check_service_date(date(2025, 3, 11), TODAY, date(2015, 3, 12))
    with pytest.raises(ServiceDateInvalid, match="production"):
        check_service_date(date(2015, 3, 11), TODAY, date(2015, 3, 12))
    check_remark("x" * 200)
    with pytest.raises(RemarkTooLong, match="201 characters"):
        check_remark("x" * 201)


def test_service_items_rules() -> None:
    supported = ["engine_oil", "brake_fluid"]
    check_service_items(["engine_oil"], supported, EntryKind.MAINTENANCE, "")
    check_service_items([], supported, EntryKind.REPAIR, "replaced the window regulator")
    for selected, kind in (
        (["coolant"], EntryKind.MAINTENANCE),
        (["engine_oil", "engine_oil"], EntryKind.MAINTENANCE),
        ([], EntryKind.MAINTENANCE),
        ([], EntryKind.REPAIR),
    ):
        with pytest.raises(ServiceItemsInvalid):
            check_service_items(selected, supported, kind, "")


def test_steps_follow_the_state_machine_and_name_the_expected_step() -> None:
    machine = ServiceEntryMachine()
    for event, step in (
        ("record_consent", "consent"),
        ("enter_details", "details"),
        ("select_services", "services"),
        ("create_entry", "create"),
    ):
        with pytest.raises(WrongServiceEntryStep) as wrong:
            ensure_step(str(machine.current_state_value), "close")
        assert wrong.value.context["expected_step"] == step
        ensure_step(str(machine.current_state_value), step)  # type: ignore[arg-type]
        machine.send(event)
    ensure_step("created", "write-to-vehicle")
    machine.send("close_flow")
    with pytest.raises(ServiceEntryClosed):
        ensure_step(str(machine.current_state_value), "close")


def test_deletion_only_on_the_day_of_creation_for_a_same_day_service_by_its_workshop() -> None:
    check_deletable(TODAY, TODAY, TODAY, "ws-1", "ws-1")
    for created, service, today, workshop in (
        (TODAY, TODAY, date(2025, 3, 11), "ws-1"),  # the next day
        (TODAY, date(2025, 3, 9), TODAY, "ws-1"),  # service done earlier
        (TODAY, TODAY, TODAY, "ws-2"),  # another workshop
    ):
        with pytest.raises(NotDeletable) as refused:
            check_deletable(created, service, today, "ws-1", workshop)
        assert isinstance(refused.value, DomainError) and refused.value.kind == "conflict"
        assert "only on the day it was created" in refused.value.context["rule"]


def test_performed_items_are_reset_and_the_others_kept() -> None:
    current = [
        VehicleServiceItem(code=1, status="overdue", due_date=date(2024, 1, 1), remaining_km=-500),
        VehicleServiceItem(code=2, status="ok", remaining_km=14_500),
    ]
    after = reset_service_items(current, ["engine_oil", "brake_fluid"], date(2024, 2, 29))
    assert after == [
        VehicleServiceItem(code=1, status="ok", due_date=date(2026, 2, 28), remaining_km=30_000),
        VehicleServiceItem(code=2, status="ok", remaining_km=14_500),
        VehicleServiceItem(code=4, status="ok", due_date=date(2026, 2, 28)),
    ]
