"""Programming session and security access, and ECU resets, as a station link tracks them.

ISO 14229-1: every session change, also to the active session, locks security again; reset and
S3 expiry return to default, locked. The link remembers per ECU that *it* put the ECU into the
programming session and unlocked it (:meth:`SessionControl.ensure_programming`). It enters and
unlocks again only for a reason it observed:

* a reset or session change it sent (``reset``, ``change_session``, ...);
* a new link (the state belongs to the link object: a reconnect or a resume after a crash
  starts from scratch);
* S3 risk: no request and no TesterPresent to the ECU for about ``LinkTimeouts.s3``
  (keep-alive off or starved);
* a negative response 0x7F/0x7E (session) or 0x33 (security) to a programming request
  (fingerprint, erase, RequestDownload, check memory, dependencies) while the link held the
  ECU: it re-establishes session and security once and repeats the request once.

Each time it enters the programming session again it also writes the fingerprint it wrote
before (``write_fingerprint``): the ECU wants one per session before an erase or download.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from hw import protocol as P
from hw.errors import BusTimeout, InvalidResponse, RequestOutOfRange, VehicleLinkError
from hw.protocol import Session
from hw.security import key_for_ecu
from hw.station_link.base import LinkBase

log = logging.getLogger(__name__)

T = TypeVar("T")

# negative responses that say "not (unlocked) in this session": 0x7F
# serviceNotSupportedInActiveSession, 0x7E subFunctionNotSupportedInActiveSession,
# 0x33 securityAccessDenied
SESSION_NRCS = frozenset({0x7E, 0x7F, 0x33})
# an ECU idle for this share of S3 may already have dropped its session (margin for the way
# of the next request to the ECU)
_S3_RISK = 0.9


class SessionControl(LinkBase):
    """Session changes, security access, holding the programming session, and resets."""

    def read_active_session(self, ecu: str) -> Session:
        raw = self.read_did(ecu, P.DID_ACTIVE_SESSION)
        try:
            session = Session(raw[0])
        except (IndexError, ValueError) as exc:
            raise InvalidResponse(f"active session: {raw.hex()}", ecu=ecu) from exc
        if self._sessions.get(ecu) != session:
            self._unlocked.pop(ecu, None)  # the session changed behind our back: locked
        self._sessions[ecu] = session
        return session

    def change_session(self, ecu: str, session: Session) -> None:
        """DiagnosticSessionControl. Any change (also to the active session) locks security."""
        try:
            self._client(ecu).change_session(int(session))
        except VehicleLinkError as exc:
            if exc.nrc is None:  # no answer: the ECU may or may not have switched
                self._forget(ecu)
            raise
        self._sessions[ecu] = session
        self._unlocked.pop(ecu, None)

    def enter_default_session(self, ecu: str) -> None:
        self.change_session(ecu, Session.DEFAULT)

    def enter_programming_session(self, ecu: str) -> None:
        """Default -> extended -> programming; from extended or programming straight to
        programming. Always sends the session change: under ISO 14229-1 re-entering the
        programming session locks security access again (unlock afterwards)."""
        current = self.read_active_session(ecu)
        if current == Session.DEFAULT:
            self.change_session(ecu, Session.EXTENDED)
        self.change_session(ecu, Session.PROGRAMMING)

    def unlock(self, ecu: str, level: P.SecurityLevel = P.SecurityLevel.PROGRAMMING) -> None:
        """Security access seed/key; no key when the ECU answers the zero seed (already
        unlocked)."""
        client = self._client(ecu)
        try:
            seed = client.request_seed(int(level))
            if seed != bytes(len(seed)):
                client.send_key(int(level), key_for_ecu(ecu, seed, int(level)))
        except VehicleLinkError as exc:
            self._unlocked.pop(ecu, None)
            if exc.nrc in (0x7E, 0x7F):
                self._sessions.pop(ecu, None)
            raise
        self._unlocked[ecu] = int(level)

    def _forget(self, ecu: str) -> None:
        self._sessions.pop(ecu, None)
        self._unlocked.pop(ecu, None)

    def _s3_risk(self, ecu: str) -> bool:
        """Nothing (request or TesterPresent) went to ``ecu`` for about S3."""
        client = self._clients.get(ecu)
        return (
            client is None or time.monotonic() - client.last_activity > _S3_RISK * self.timeouts.s3
        )

    def _believes_programming(self, ecu: str) -> bool:
        return (
            self._sessions.get(ecu) == Session.PROGRAMMING
            and self._unlocked.get(ecu) == P.SecurityLevel.PROGRAMMING
        )

    def holds_programming(self, ecu: str) -> bool:
        """Whether this link put ``ecu`` into the programming session and unlocked it, and
        has seen no reason since to think it lost either (see the module doc)."""
        return self._believes_programming(ecu) and not self._s3_risk(ecu)

    def ensure_programming(self, ecu: str) -> bool:
        """Programming session and security unlocked, once per ECU on this link: a no-op
        while :meth:`holds_programming`. Returns whether requests were sent."""
        with self._ecu_lock(ecu):
            if self.holds_programming(ecu):
                return False
            if self._sessions.get(ecu, Session.DEFAULT) != Session.DEFAULT and self._s3_risk(ecu):
                self._forget(ecu)  # may have fallen back to default: ask the ECU
            self._establish_programming(ecu)
            return True

    def _establish_programming(self, ecu: str) -> None:
        known = self._sessions.get(ecu)
        if known == Session.PROGRAMMING:
            pass  # this link entered it (no unlock yet): unlocking is enough
        elif known == Session.EXTENDED:
            self.change_session(ecu, Session.PROGRAMMING)
        elif known == Session.DEFAULT:  # e.g. after our reset: no need to ask
            self.change_session(ecu, Session.EXTENDED)
            self.change_session(ecu, Session.PROGRAMMING)
        else:  # unknown (new link, NRC, S3 risk): from scratch, re-entering a programming
            # session someone else left (locks, drops a stale download)
            self.enter_programming_session(ecu)
        self.unlock(ecu, P.SecurityLevel.PROGRAMMING)
        fingerprint = self._fingerprints.get(ecu)
        if fingerprint is not None:  # a new programming session needs it again
            client = self._client(ecu)
            client.write_did(P.DID_FINGERPRINT, fingerprint.encode())
            self._write_tester_identity(ecu, fingerprint)

    def _write_tester_identity(self, ecu: str, fingerprint: P.Fingerprint) -> None:
        """Tester serial (0xF198) and programming date (0xF199), where the ECU holds them: an
        ECU that refuses 0xF198 with NRC 0x31 is not asked again on this link."""
        if self._tester_identity.get(ecu) is False or not fingerprint.station_id:
            return
        client = self._client(ecu)
        try:
            client.write_did(P.DID_TESTER_SERIAL, P.encode_tester_serial(fingerprint.station_id))
        except RequestOutOfRange:
            self._tester_identity[ecu] = False
            return
        client.write_did(
            P.DID_PROGRAMMING_DATE, P.encode_programming_date(fingerprint.programming_date)
        )
        self._tester_identity[ecu] = True

    def _programming_request(self, ecu: str, request: Callable[[], T], *, repeat: bool) -> T:
        """Run a request that needs the unlocked programming session. A 0x7F/0x7E/0x33 answer
        shows the ECU lost session or security: forget what the link believed and, when it
        held the ECU and ``repeat``, re-establish both once and repeat the request once."""
        with self._ecu_lock(ecu):
            held = self._believes_programming(ecu)
            try:
                return request()
            except VehicleLinkError as exc:
                if exc.nrc not in SESSION_NRCS:
                    raise
                self._forget(ecu)
                if not (held and repeat):
                    raise
                log.warning("%s: %s; re-entering programming session and unlocking", ecu, exc)
            self._establish_programming(ecu)
            return request()

    def reset(self, ecu: str, *, wait_ready: bool = True) -> None:
        """Hard reset; by default waits until the ECU answers again."""
        try:
            self._client(ecu).ecu_reset(int(P.ResetType.HARD))
        except VehicleLinkError:
            self._forget(ecu)
            raise
        self._sessions[ecu] = Session.DEFAULT  # and locked
        self._unlocked.pop(ecu, None)
        if wait_ready:
            self.wait_ready(ecu)

    def wait_ready(self, ecu: str, timeout: float | None = None) -> None:
        client = self._client(ecu)
        deadline = time.monotonic() + (
            timeout if timeout is not None else self.timeouts.reset_ready
        )
        probe_timeout = min(self.timeouts.probe, self.timeouts.p2)
        # Grace before the first probe: the ECU that has just answered the reset request may
        # not have gone down yet, and its answer would be taken for "back up".
        time.sleep(0.02)
        while True:
            asked = time.monotonic()
            if client.probe(probe_timeout):
                return
            if time.monotonic() > deadline:
                raise BusTimeout("ECU did not come back after reset", ecu=ecu)
            # A probe that timed out has already waited; probing again at once finds the ECU
            # up to 10 ms sooner per reset (one per ECU of a session). Only a probe refused at
            # once (busy, pending) pauses, so that the loop never spins.
            if time.monotonic() - asked < probe_timeout:
                time.sleep(0.01)
