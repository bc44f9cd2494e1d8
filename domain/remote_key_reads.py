"""Remote key reads (pure): who may ask a connected car for its key data, and the request's
states.

A workshop may ask when it has a valid `teleservice` ticket and either is the car's service
partner or records the owner's consent (the service booklet's consent rule). The car must be
remote-key-read capable and have an active ConnectedDrive contract. The request is sent to the
connected-car backend and completes when the car next wakes up, or never: after the deadline
(7 days unless configured) it has expired. The workshop may cancel it while it waits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from statemachine import State, StateMachine

from domain.errors import Conflict, Forbidden, NotFound

DEFAULT_DEADLINE = timedelta(days=7)


class RemoteKeyReadMachine(StateMachine):
    """requested → waiting for the car → received | expired | cancelled."""

    requested = State(initial=True)
    waiting = State("Waiting")  # for the car; the KaSIO list says so in full
    received = State(final=True)
    expired = State(final=True)
    cancelled = State(final=True)

    sent = requested.to(waiting)
    receive = waiting.to(received) | requested.to(received)
    expire = waiting.to(expired) | requested.to(expired)
    cancel = waiting.to(cancelled) | requested.to(cancelled)


RemoteKeyReadState = Literal["requested", "waiting", "received", "expired", "cancelled"]
OPEN_REQUEST_STATES: frozenset[str] = frozenset({"requested", "waiting"})


class RemoteKeyReadNoRight(Forbidden):
    """The seed: "U hebt niet het recht om een Remote KeyRead-aanvraag voor het voertuig uit
    te voeren"."""

    code = "remote-key-read-no-right"
    title = "You have no right to request a remote key read for this vehicle"


class RemoteKeyReadNotCapable(Conflict):
    code = "remote-key-read-not-capable"
    title = "The vehicle is not capable of remote key reads"


class RemoteKeyReadNoContract(Conflict):
    code = "remote-key-read-no-contract"
    title = "The vehicle has no active ConnectedDrive contract"


class RemoteKeyReadNotFound(NotFound):
    code = "remote-key-read-not-found"
    title = "No remote key-read request with this id"


class RemoteKeyReadNotOpen(Conflict):
    code = "remote-key-read-not-open"
    title = "The request no longer waits for the car"


def check_remote_key_read(
    *,
    capable: bool,
    contract: bool,
    service_partner: bool,
    owner_consent: bool,
) -> None:
    """Refuse with the reason the portal shows, the car's facts first: not capable, no
    contract, no right (neither the car's service partner nor the owner's consent). The
    `teleservice` ticket is checked like every other service's (`no-access`)."""
    if not capable:
        raise RemoteKeyReadNotCapable(
            "the vehicle cannot be read remotely (Remote key read capable: no)"
        )
    if not contract:
        raise RemoteKeyReadNoContract(
            "the vehicle has no active ConnectedDrive contract, so it cannot be reached"
        )
    if not (service_partner or owner_consent):
        raise RemoteKeyReadNoRight(
            "you have no right to request a remote key read for this vehicle: only its "
            "service partner may, or a workshop that records the owner's consent",
            field="owner_consent",
        )


def ensure_open(state: str) -> None:
    if state not in OPEN_REQUEST_STATES:
        raise RemoteKeyReadNotOpen(
            f"the request is {state}; only a request that waits can be cancelled", state=state
        )
