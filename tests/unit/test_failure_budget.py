"""The failure converter keeps a failure under the size the Temporal server keeps for a retry
(the end-to-end case, through the gateway and the dev server, is in
tests/gateway/test_gateway_worker.py)."""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError

from temporal_client import CLEAR_CONVERTER, FAILURE_BUDGET, MESSAGE_KEPT


def encoded(exception: BaseException) -> Failure:
    failure = Failure()
    CLEAR_CONVERTER.failure_converter.to_failure(
        exception, CLEAR_CONVERTER.payload_converter, failure
    )
    return failure


def decoded(failure: Failure) -> BaseException:
    return CLEAR_CONVERTER.failure_converter.from_failure(
        failure, CLEAR_CONVERTER.payload_converter
    )


def raised(exception: BaseException) -> BaseException:
    """`exception` with a traceback, as an activity's error has."""
    try:
        raise exception
    except BaseException as error:
        return error


def test_a_failure_within_the_budget_is_what_the_sdk_writes() -> None:
    inner = raised(KeyError("DID 0xF190"))
    refusal = ApplicationError("the vehicle said no", {"nrc": "0x22"}, type="VehicleRefused")
    refusal.__cause__ = inner
    error = raised(refusal)
    sdk = Failure()
    DefaultFailureConverterWithEncodedAttributes().to_failure(
        error, CLEAR_CONVERTER.payload_converter, sdk
    )

    assert encoded(error) == sdk


def test_a_long_message_keeps_its_start_its_type_and_its_details() -> None:
    message = "the package is refused: " + "segment overlaps; " * 400
    error = raised(ApplicationError(message, {"package": "p-1"}, type="PackageRefused"))

    failure = encoded(error)

    assert failure.ByteSize() <= FAILURE_BUDGET
    back = decoded(failure)
    assert isinstance(back, ApplicationError)
    assert back.type == "PackageRefused"
    assert back.message == message[:MESSAGE_KEPT] + "…"
    assert list(back.details) == [{"package": "p-1"}]


def test_a_deep_stack_keeps_its_innermost_frames_and_its_whole_message() -> None:
    # sixty functions, each calling the next from its own line: a trace Python cannot fold
    source = (
        "\n".join(f"def layer_{n}():\n    layer_{n + 1}()" for n in range(60))
        + '\ndef layer_60():\n    raise ConnectionResetError("the interface closed the socket")'
    )
    namespace: dict[str, object] = {}
    exec(compile(source, "driver_stack.py", "exec"), namespace)
    try:
        namespace["layer_0"]()  # type: ignore[operator]
    except ConnectionResetError as error:
        failure = encoded(error)

    assert failure.ByteSize() <= FAILURE_BUDGET
    back = decoded(failure)
    assert isinstance(back, ApplicationError)
    assert (back.type, back.message) == (
        "ConnectionResetError",
        "the interface closed the socket",
    )
    attributes = CLEAR_CONVERTER.payload_converter.from_payloads([failure.encoded_attributes])
    trace = attributes[0]["stack_trace"]
    assert "in layer_60" in trace  # where it was raised
    assert "in layer_1\n" not in trace  # the outer frames gave way
