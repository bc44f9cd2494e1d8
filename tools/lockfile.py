"""requirements.lock: every package the project installs, direct and transitive, with hashes.

    python tools/lockfile.py update   # `make lock`: resolve pyproject.toml anew into the lock
    python tools/lockfile.py check    # `make lint`: the lock matches pyproject.toml, and this
                                      # environment holds exactly the locked set
    python tools/lockfile.py prune    # `make install`: remove what the lock no longer names

The lock's second line carries a digest of what pyproject.toml says gets installed (the
requirements, and which of the project's own packages and modules setuptools installs), so any
change to them that was not followed by `make lock` fails the check, offline and at once.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
DIGEST_PREFIX = "# pyproject-requirements-sha256: "
# The lowest Python the project supports: the lock is universal (markers for the others).
PYTHON_VERSION = "3.11"


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    marker: str | None

    def applies_here(self) -> bool:
        from packaging.markers import Marker

        return self.marker is None or Marker(self.marker).evaluate()


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirements_digest() -> str:
    """A digest of everything in pyproject.toml that decides what gets installed."""
    project = tomllib.loads(PYPROJECT.read_text())
    declared = {
        "requires-python": project["project"].get("requires-python"),
        "dependencies": project["project"].get("dependencies", []),
        "optional-dependencies": project["project"].get("optional-dependencies", {}),
        "dependency-groups": project.get("dependency-groups", {}),
        "build-system": project.get("build-system", {}).get("requires", []),
        # The project's own packages and modules: a fresh install of the old list would miss a
        # new package (web/, application/, ...) that the tests ran with.
        "setuptools": project.get("tool", {}).get("setuptools", {}),
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def declared_requirements() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())
    declared = list(project["project"].get("dependencies", []))
    for extra in project["project"].get("optional-dependencies", {}).values():
        declared += extra
    for group in project.get("dependency-groups", {}).values():
        declared += group
    declared += project.get("build-system", {}).get("requires", [])
    return declared


def locked_packages(text: str) -> list[LockedPackage]:
    packages = []
    for line in text.splitlines():
        if not line or line[0] in "# " or line.startswith("--"):
            continue
        requirement, _, marker = line.rstrip(" \\").partition(";")
        name, _, version = requirement.strip().partition("==")
        packages.append(LockedPackage(canonical(name), version, marker.strip() or None))
    return packages


def update() -> None:
    """Resolve pyproject.toml (all extras and groups) into the lock, with hashes, and stamp it."""
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [
            str(uv), "pip", "compile", "pyproject.toml",
            "--extra", "dev", "--group", "install",
            "--generate-hashes", "--universal", "--python-version", PYTHON_VERSION,
            "--custom-compile-command", "make lock",
            "--quiet", "--output-file", str(LOCK),
        ],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    header, _, rest = LOCK.read_text().partition("\n")
    LOCK.write_text(f"{header}\n{DIGEST_PREFIX}{requirements_digest()}\n{rest}")
    print(f"{LOCK.name}: {len(locked_packages(rest))} packages")


def installed_here() -> dict[str, str]:
    return {
        canonical(distribution.metadata["Name"]): distribution.version
        for distribution in metadata.distributions()
    }


def project_name() -> str:
    return canonical(tomllib.loads(PYPROJECT.read_text())["project"]["name"])


def problems() -> list[str]:
    from packaging.requirements import Requirement

    text = LOCK.read_text()
    found: list[str] = []
    if f"{DIGEST_PREFIX}{requirements_digest()}" not in text.splitlines()[:3]:
        found.append(
            "pyproject.toml's requirements or installed packages changed since the lock was "
            "made: run `make lock`"
        )
    locked = locked_packages(text)
    for declared in declared_requirements():
        requirement = Requirement(declared)
        versions = [p.version for p in locked if p.name == canonical(requirement.name)]
        if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            found.append(f"{declared} is not in the lock (locked: {versions or 'nothing'})")
    expected = {p.name: p.version for p in locked if p.applies_here()}
    installed = installed_here()
    installed.pop(project_name(), None)
    for name in sorted(expected.keys() | installed.keys()):
        if expected.get(name) != installed.get(name):
            found.append(
                f"{name}: locked {expected.get(name, 'not at all')}, "
                f"installed {installed.get(name, 'not at all')} (run `make install`)"
            )
    return found


def check() -> int:
    found = problems()
    for problem in found:
        print(f"{LOCK.name}: {problem}", file=sys.stderr)
    if not found:
        print(f"{LOCK.name}: matches pyproject.toml and this environment")
    return 1 if found else 0


def prune() -> None:
    """Uninstall what this environment holds beyond the lock (a package dropped from it)."""
    locked = {p.name for p in locked_packages(LOCK.read_text()) if p.applies_here()}
    extra = sorted(installed_here().keys() - locked - {project_name()})
    if extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", *extra], check=True)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) == 2 else ""
    if command == "update":
        update()
    elif command == "check":
        sys.exit(check())
    elif command == "prune":
        prune()
    else:
        sys.exit(__doc__)
