"""Typed errors of the vehicle link.

Every failure that leaves ``hw`` while talking to a car is a :class:`VehicleLinkError`.
Each class carries

* ``code``: a stable string, meant to be used verbatim as the Temporal
  ``ApplicationError`` type. It is the class's name unless the class statement gives
  ``code=``, so never rename a class (nor a code); add a new class instead;
* ``transient``: ``True`` when retrying the same step later can succeed (bus timeout,
  disconnect, ECU busy, battery voltage out of range, ...), given as ``transient=True`` in
  the class statement. ``False`` errors must become ``ApplicationError(non_retryable=True)``.

:func:`error_for_nrc` is the one mapping from a UDS negative response code (NRC) to an
error class; :func:`negative_response_error` builds the instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class VehicleLinkError(Exception):
    """Base class of every vehicle link failure."""

    code: ClassVar[str] = "VehicleLinkError"
    transient: ClassVar[bool] = False

    def __init_subclass__(
        cls, *, code: str | None = None, transient: bool | None = None, **kwargs: Any
    ) -> None:
        """Each error says its code (when not its name) and whether it is transient once, in
        its class statement: ``class EcuBusy(VehicleLinkError, transient=True)``."""
        super().__init_subclass__(**kwargs)
        cls.code = code or cls.__name__
        if transient is not None:  # otherwise as its parent: a kind of a transient error is one
            cls.transient = transient

    def __init__(
        self,
        message: str = "",
        *,
        ecu: str | None = None,
        nrc: int | None = None,
        service: int | None = None,
    ) -> None:
        self.ecu = ecu
        self.nrc = nrc
        self.service = service
        self.message = message or self.__class__.__doc__ or self.code
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.ecu:
            parts.append(f"ECU {self.ecu}")
        if self.service is not None:
            parts.append(f"service 0x{self.service:02X}")
        if self.nrc is not None:
            parts.append(f"NRC 0x{self.nrc:02X}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message

    def details(self) -> dict[str, Any]:
        """JSON-friendly details (for ``ApplicationError(details=...)``)."""
        return {
            "code": self.code,
            "transient": self.transient,
            "ecu": self.ecu,
            "nrc": self.nrc,
            "service": self.service,
            "message": self.message,
        }


# --------------------------------------------------------------------------- transient


class BusTimeout(VehicleLinkError, transient=True):
    """No response from the ECU in time (P2/P2* expired)."""


class ResponsePending(VehicleLinkError, code="ResponsePendingTooLong", transient=True):
    """The ECU kept answering ResponsePending (NRC 0x78) for too long."""


class EcuBusy(VehicleLinkError, transient=True):
    """The ECU is busy (NRC 0x21 busyRepeatRequest)."""


class LinkDisconnected(VehicleLinkError, transient=True):
    """The connection to the vehicle interface is gone (socket closed, bus down)."""


class LateResponse(VehicleLinkError, transient=True):
    """The ECU answered an earlier request, whose answer came after its time ran out: the link
    is out of step, and a fresh one, asked again, gets the right answer."""


class LinkInUse(VehicleLinkError, transient=True):
    """An earlier attempt of this session's step still holds the vehicle link on this station."""


class VoltageOutOfRange(VehicleLinkError, transient=True):
    """Supply voltage too low/high for the request (NRC 0x92/0x93): charge and retry."""


class SecurityDelayNotExpired(VehicleLinkError, transient=True):
    """Security access lock-out delay is running (NRC 0x37): retry after the delay."""


class SessionLost(VehicleLinkError, transient=True):
    """Request not allowed in the active session (NRC 0x7E/0x7F), e.g. after an S3 timeout."""


class RequestSequenceError(VehicleLinkError, transient=True):
    """Request out of sequence (NRC 0x24), e.g. the ECU lost its download state."""


# --------------------------------------------------------------------------- fatal


class NegativeResponse(VehicleLinkError):
    """Negative response without a more specific mapping."""


class ServiceNotSupported(VehicleLinkError):
    """Service or sub-function not supported (NRC 0x11/0x12)."""


class IncorrectMessageLength(VehicleLinkError):
    """Incorrect message length or invalid format (NRC 0x13)."""


class ConditionsNotCorrect(VehicleLinkError):
    """Conditions not correct (NRC 0x22)."""


class RequestOutOfRange(VehicleLinkError):
    """Request out of range (NRC 0x31): unknown DID/routine or address outside memory."""


class SecurityAccessDenied(VehicleLinkError):
    """Security access denied (NRC 0x33): the ECU is locked."""


class InvalidKey(VehicleLinkError):
    """The ECU rejected the security key (NRC 0x35)."""


class InvalidKeyAttemptsExceeded(VehicleLinkError):
    """Security key rejected and the attempt limit is reached (NRC 0x36)."""


class UploadDownloadNotAccepted(VehicleLinkError):
    """RequestDownload refused (NRC 0x70)."""


class TransferDataSuspended(VehicleLinkError):
    """TransferData aborted by the ECU (NRC 0x71)."""


class ProgrammingFailure(VehicleLinkError):
    """The ECU failed to program its memory (NRC 0x72)."""


class WrongBlockSequenceCounter(VehicleLinkError):
    """TransferData block sequence counter rejected (NRC 0x73)."""


class InvalidResponse(VehicleLinkError):
    """The ECU answered something that is not a valid response to the request."""


class WrongHardware(VehicleLinkError):
    """The ECU hardware does not match the flash package target."""


class MemoryCheckFailed(VehicleLinkError):
    """Check-memory routine reported a CRC mismatch."""


class DependencyCheckFailed(VehicleLinkError):
    """Check-programming-dependencies routine failed."""


class VinMismatch(VehicleLinkError):
    """The vehicle answering is not the vehicle the session started on."""


# --------------------------------------------------------------------------- mapping

NRC_ERRORS: Mapping[int, type[VehicleLinkError]] = {
    0x10: NegativeResponse,  # generalReject
    0x11: ServiceNotSupported,
    0x12: ServiceNotSupported,  # subFunctionNotSupported
    0x13: IncorrectMessageLength,
    0x14: NegativeResponse,  # responseTooLong
    0x21: EcuBusy,
    0x22: ConditionsNotCorrect,
    0x24: RequestSequenceError,
    0x25: BusTimeout,  # noResponseFromSubnetComponent (gateway could not reach the ECU)
    0x26: NegativeResponse,  # failurePreventsExecutionOfRequestedAction
    0x31: RequestOutOfRange,
    0x33: SecurityAccessDenied,
    0x35: InvalidKey,
    0x36: InvalidKeyAttemptsExceeded,
    0x37: SecurityDelayNotExpired,
    0x70: UploadDownloadNotAccepted,
    0x71: TransferDataSuspended,
    0x72: ProgrammingFailure,
    0x73: WrongBlockSequenceCounter,
    0x78: ResponsePending,
    0x7E: SessionLost,
    0x7F: SessionLost,
    0x92: VoltageOutOfRange,
    0x93: VoltageOutOfRange,
}

NRC_NAMES: Mapping[int, str] = {
    0x10: "generalReject",
    0x11: "serviceNotSupported",
    0x12: "subFunctionNotSupported",
    0x13: "incorrectMessageLengthOrInvalidFormat",
    0x14: "responseTooLong",
    0x21: "busyRepeatRequest",
    0x22: "conditionsNotCorrect",
    0x24: "requestSequenceError",
    0x25: "noResponseFromSubnetComponent",
    0x26: "failurePreventsExecutionOfRequestedAction",
    0x31: "requestOutOfRange",
    0x33: "securityAccessDenied",
    0x35: "invalidKey",
    0x36: "exceededNumberOfAttempts",
    0x37: "requiredTimeDelayNotExpired",
    0x70: "uploadDownloadNotAccepted",
    0x71: "transferDataSuspended",
    0x72: "generalProgrammingFailure",
    0x73: "wrongBlockSequenceCounter",
    0x78: "requestCorrectlyReceived-ResponsePending",
    0x7E: "subFunctionNotSupportedInActiveSession",
    0x7F: "serviceNotSupportedInActiveSession",
    0x92: "voltageTooHigh",
    0x93: "voltageTooLow",
}


def error_for_nrc(nrc: int) -> type[VehicleLinkError]:
    """The error class for a UDS negative response code (unknown codes: NegativeResponse)."""
    return NRC_ERRORS.get(nrc, NegativeResponse)


def negative_response_error(
    nrc: int, *, ecu: str | None = None, service: int | None = None
) -> VehicleLinkError:
    """Build the typed error for a negative response ``7F <service> <nrc>``."""
    name = NRC_NAMES.get(nrc, "unknown negative response")
    return error_for_nrc(nrc)(name, ecu=ecu, nrc=nrc, service=service)
