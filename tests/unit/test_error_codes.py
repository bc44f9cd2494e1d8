"""Every domain error has a code of its own: the code is the problem `type` over HTTP and the
ApplicationError `type` in Temporal, and `contracts.errors` finds the class back by it."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

from contracts.errors import domain_error_from_failure, to_application_error
from domain.errors import DomainError

PACKAGES = ("domain", "contracts", "db", "workflows", "activities", "station", "api")


def _all_domain_errors() -> list[type[DomainError]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    found: list[type[DomainError]] = []
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__name__ != "CarriedDomainError"]


def test_every_domain_error_code_names_one_class() -> None:
    by_code: dict[str, list[str]] = defaultdict(list)
    for cls in _all_domain_errors():
        by_code[cls.code].append(f"{cls.__module__}.{cls.__qualname__}")
    duplicates = {code: names for code, names in by_code.items() if len(names) > 1}
    assert duplicates == {}


def test_each_domain_error_comes_back_as_its_own_class_across_temporal() -> None:
    for cls in _all_domain_errors()[1:]:  # DomainError itself is never raised
        carried = domain_error_from_failure(to_application_error(cls("detail", field="x")))
        assert type(carried) is cls, cls


def test_the_failures_a_session_decides_on_are_the_station_s_own_codes() -> None:
    from contracts.programming import StationFailure
    from hw.errors import VinMismatch

    assert VinMismatch.code == StationFailure.VIN_MISMATCH
