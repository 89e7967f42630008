"""constraints.txt pins every dependency, the environment the tests run in is the pinned one,
and every place that installs dependencies (make install, make runtime-venv, the image)
installs them through it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"not an exact pin: {line!r}"
        pins[_normalize(match[1])] = match[2]
    return pins


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return _normalize(match[0])


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    pins = _pins()
    missing = sorted({_requirement_name(r) for r in declared} - set(pins))
    assert missing == [], f"in pyproject.toml but not in constraints.txt: {missing}"


def test_the_installed_distributions_are_the_pinned_versions() -> None:
    pins = _pins()
    installed = {_normalize(d.metadata["Name"]): d.version for d in metadata.distributions()}
    different = {
        name: (pinned, installed[name])
        for name, pinned in pins.items()
        if name in installed and installed[name] != pinned
    }
    assert different == {}, f"(pinned, installed) differ: {different}; run `make install`"
    # the whole test environment is pinned, not a part of it (pip and the project excepted)
    unpinned = sorted(set(installed) - set(pins) - {"pip", "setuptools", "wheel", "dbaas"})
    assert unpinned == [], f"installed but not pinned: {unpinned}"


def test_make_and_the_image_install_through_the_constraints() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and " -e " in line]
    assert len(installs) == 2, installs  # the test venv and the runtime venv
    assert all("-c constraints.txt" in line for line in installs), installs
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml constraints.txt" in dockerfile
    assert "-r requirements.txt -c constraints.txt" in dockerfile
    # and the build context lets it in (.dockerignore excludes everything not listed)
    assert "!constraints.txt" in (REPO_ROOT / ".dockerignore").read_text().splitlines()
