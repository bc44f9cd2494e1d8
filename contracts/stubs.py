"""Activities declared once, in the contracts module of their flow, as stubs.

A stub is an `@activity.defn(name=...)` function with the activity's one input model and its
result, whose body raises: it only describes the activity. Workflows pass it to
`workflow.execute_activity(stub, input, ...)`, so the SDK takes the name and the result type from
it and mypy checks the input and the result of every call. Plain `def` declares an activity that
runs in the worker's threads, `async def` one that runs on its event loop, as implemented.

The implementation names itself after its stub, so the two cannot drift apart:

    class RegistrationActivities:
        @implements(contract.check_vat_id)
        async def check_vat_id(self, request: CheckVatInput) -> VatCheckResult: ...

`implements` gives the method the stub's activity name; mypy checks that the method takes the
stub's input and returns its result (and is async exactly when the stub is), and at import time
the same is checked against the SDK's reading of both signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from temporalio import activity

_Input = TypeVar("_Input")
_Result = TypeVar("_Result")
_Self = TypeVar("_Self")


def _definition(stub: Callable[..., Any]) -> Any:
    # The SDK keeps what `activity.defn` read (name, argument and result types, async or not) on
    # the function; `must_from_callable` raises for a function that is not an activity.
    return activity._Definition.must_from_callable(stub)


def activity_name(stub: Callable[..., Any]) -> str:
    """The name the activity has in histories (its `activity_type`)."""
    name = _definition(stub).name
    if not name:
        raise TypeError(f"{stub.__qualname__} is a dynamic activity, not a stub")
    return str(name)


class _Implementation(Protocol[_Input, _Result]):
    def __call__(
        self, method: Callable[[_Self, _Input], _Result], /
    ) -> Callable[[_Self, _Input], _Result]: ...


def implements(stub: Callable[[_Input], _Result]) -> _Implementation[_Input, _Result]:
    """Decorate the method that implements `stub`: `@activity.defn` with the stub's name.

    The method takes the stub's input model and returns its result; an async stub is
    implemented by an async method, a plain one by a plain method.
    """
    declared = _definition(stub)
    name = activity_name(stub)

    def decorate(method: Callable[[_Self, _Input], _Result]) -> Callable[[_Self, _Input], _Result]:
        implemented = activity.defn(name=name)(method)
        actual = _definition(implemented)
        if (actual.arg_types, actual.ret_type, actual.is_async) != (
            declared.arg_types,
            declared.ret_type,
            declared.is_async,
        ):
            raise TypeError(
                f"{method.__qualname__} does not implement the activity {name!r} as declared: "
                f"takes {actual.arg_types} and returns {actual.ret_type!r} "
                f"({'async' if actual.is_async else 'sync'}), the stub "
                f"{declared.arg_types} -> {declared.ret_type!r} "
                f"({'async' if declared.is_async else 'sync'})"
            )
        return implemented

    return decorate
