from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hw.flash_files import FlashPackage, load_package
from hw.sim import registry
from hw.sim.config import VehicleConfig
from hw.sim.demo_package import build_demo_package
from hw.sim.vehicle import SimVehicle
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import FAST, fast_config

_names = itertools.count()


@pytest.fixture
def timeouts() -> LinkTimeouts:
    return FAST


@pytest.fixture
def make_vehicle() -> Iterator[Callable[..., tuple[SimVehicle, str]]]:
    """Create a named simulated vehicle; returns (vehicle, 'sim://?name=...')."""
    created: list[str] = []

    def make(config: VehicleConfig | None = None) -> tuple[SimVehicle, str]:
        name = f"t{next(_names)}"
        vehicle = registry.register(name, SimVehicle(config or fast_config()))
        created.append(name)
        return vehicle, f"sim://?name={name}"

    yield make
    for name in created:
        registry.remove(name)


@pytest.fixture
def vehicle(make_vehicle: Callable[..., tuple[SimVehicle, str]]) -> tuple[SimVehicle, str]:
    return make_vehicle()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-package")
    build_demo_package(directory, image_size_per_ecu=24 * 1024, version="2.1.0", seed=3)
    return directory


@pytest.fixture(scope="session")
def demo_package(demo_dir: Path) -> FlashPackage:
    return load_package(demo_dir)
