"""A station's session links: one step of a session at a time on the car.

A retry can reach the station while the attempt it replaces still runs there (the server timed
that attempt out while the gateway was down; it learns it is cancelled only at its next
heartbeat). The retry must wait for it, on the same link, not write the same ECU through a
second connection at the same time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hw.errors import LinkInUse
from hw.sim.vehicle import SimVehicle
from station.session_links import SessionLinks


def test_a_retry_waits_for_the_attempt_it_replaces_and_takes_its_link(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], tmp_path: Path
) -> None:
    _, url = make_vehicle()
    links = SessionLinks(url, tmp_path)
    earlier_holds_the_link, earlier_may_end = threading.Event(), threading.Event()
    events: list[str] = []

    def earlier_attempt() -> None:
        with links.use("session-1"):
            earlier_holds_the_link.set()
            earlier_may_end.wait(5)
            events.append("earlier attempt ended")

    def retry() -> None:
        earlier_holds_the_link.wait(5)
        with links.use("session-1"):
            events.append("retry runs")

    threads = [threading.Thread(target=earlier_attempt), threading.Thread(target=retry)]
    for thread in threads:
        thread.start()
    earlier_holds_the_link.wait(5)
    # Another session of the station is not held up meanwhile.
    with links.use("session-2"):
        events.append("another session runs")
    assert events == ["another session runs"]  # the retry is still waiting
    earlier_may_end.set()
    for thread in threads:
        thread.join(5)
    assert events == ["another session runs", "earlier attempt ended", "retry runs"]
    # One connection for the session's two attempts: one frame log file.
    assert len(list((tmp_path / "session-1").glob("*.asc"))) == 1


def test_a_retry_gives_up_for_now_when_the_earlier_attempt_does_not_end(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], tmp_path: Path
) -> None:
    _, url = make_vehicle()
    links = SessionLinks(url, tmp_path, wait_seconds=0.2)
    with links.use("session-1"), pytest.raises(LinkInUse) as refused:  # noqa: SIM117
        with links.use("session-1"):
            pass
    assert refused.value.transient  # retried later, like a bus timeout
    with links.use("session-1"):  # released once the earlier one ended
        assert links.is_open("session-1")


def test_steps_of_different_ecus_share_the_link_and_a_failure_closes_it_after_the_last(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], tmp_path: Path
) -> None:
    """Parallel lanes: two ECUs' steps of one session use its one link at the same time (one
    frame log); the same ECU's retry still waits. A step that fails leaves the link to the
    other step, and the link is closed when that one ends, so the next step connects anew."""
    _, url = make_vehicle()
    links = SessionLinks(url, tmp_path, wait_seconds=0.2)
    with links.use("session-1", "DME") as dme:
        with links.use("session-1", "EGS") as egs:
            assert egs is dme
            assert egs.read_vin()
        with pytest.raises(LinkInUse), links.use("session-1", "DME"):
            pass
        with pytest.raises(RuntimeError), links.use("session-1", "EGS"):
            raise RuntimeError("the EGS step failed")
        assert dme.read_vin()  # the DME step goes on on the same link
    assert not links.is_open("session-1")  # closed after the last user: the failure
    with links.use("session-1", "DME") as fresh:
        assert fresh is not dme
    assert len(list((tmp_path / "session-1").glob("*.asc"))) == 2
