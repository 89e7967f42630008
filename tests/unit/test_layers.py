"""The layer rules hold, and the check that holds them bites.

`make lint` runs `lint-imports` with the contracts in pyproject.toml. These tests prove each
contract fails on an import that breaks it (on a copy of the package, one forbidden import
added per contract), that the contracts cover every top-level module of `services`, and that
the pure decision modules really load no I/O client.
"""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import services
import services.domain

REPO_ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]
NAMES = [contract["name"] for contract in CONTRACTS]

# One import per contract that breaks it and nothing else: (contract name starts with, the
# module of the copy that gets the import, the import line).
BREAKERS = [
    ("domain imports nothing", "domain/snapshots.py", "from services.store import events"),
    ("domain imports nothing", "domain/findings.py", "import urllib3"),
    ("only clients import kubernetes", "api/health.py", "import kubernetes"),
    ("only clients import kubernetes", "store/events.py", "from kubernetes import client"),
    ("only clients and store import psycopg", "control/outcomes.py", "import psycopg"),
    ("only clients and store import psycopg", "api/reads.py", "import psycopg_pool"),
    ("only clients import redis and rq", "worker/jobs.py", "import redis"),
    ("only clients import redis and rq", "reconcilers/daemon.py", "from rq import Queue"),
    ("the programs api, worker", "api/health.py", "from services.worker import steps"),
    ("the programs api, worker", "reconcilers/leader.py", "from services.api import problems"),
    ("sim imports nothing", "sim/store.py", "from services.store import events"),
    ("sim imports nothing", "sim/catalog.py", "from services.domain import versions"),
    ("the HTTP client", "client/output.py", "from services.domain import engines"),
    ("the HTTP client", "client/api.py", "import starlette"),
]


def lint_imports(root: Path) -> tuple[int, str]:
    """Run lint-imports on the package under `root` with the repository's contracts."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(REPO_ROOT / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def verdicts(output: str) -> dict[str, str]:
    found = {}
    for name in NAMES:
        for verdict in ("KEPT", "BROKEN"):
            if f"{name} {verdict}" in output:
                found[name] = verdict
    return found


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(
        Path(services.__file__).parent,
        root / "services",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def test_the_package_keeps_every_contract() -> None:
    code, output = lint_imports(REPO_ROOT)
    assert code == 0, output
    assert verdicts(output) == dict.fromkeys(NAMES, "KEPT")


@pytest.mark.parametrize(("contract", "module", "line"), BREAKERS)
def test_an_import_that_breaks_a_layer_fails_its_contract(
    package_copy: Path, contract: str, module: str, line: str
) -> None:
    (name,) = [n for n in NAMES if n.startswith(contract)]
    path = package_copy / "services" / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # added by the test\n")
    try:
        code, output = lint_imports(package_copy)
    finally:
        path.write_text(original)
    assert code != 0, output
    assert verdicts(output) == {n: "BROKEN" if n == name else "KEPT" for n in NAMES}, output


def top_level_modules() -> set[str]:
    return {f"services.{info.name}" for info in pkgutil.iter_modules(services.__path__)}


def test_the_forbidden_lists_name_every_other_part_of_the_package() -> None:
    """A new top-level module of `services` must be placed in the layers, not slip past."""
    by_source = {
        c["source_modules"][0]: set(c["forbidden_modules"])
        for c in CONTRACTS
        if c["type"] == "forbidden"
    }
    everything = top_level_modules()
    assert everything - {"services.domain"} <= by_source["services.domain"]
    assert everything - {"services.client"} <= by_source["services.client"]
    assert everything - {"services.sim"} <= by_source["services.sim"]


DECISION_MODULES = [
    *(f"services.domain.{info.name}" for info in pkgutil.iter_modules(services.domain.__path__)),
    "services.reconcilers.cr_readings",
    "services.reconcilers.status_sync.rules",
    "services.reconcilers.status_sync.cluster_view",
    "services.reconcilers.drift.compare",
    "services.reconcilers.drift.backup_compare",
    "services.reconcilers.drift.watching",
    "services.worker.steps",
]
IO_CLIENTS = ("psycopg", "psycopg_pool", "kubernetes", "redis", "rq", "urllib3")


def test_the_decision_modules_load_no_io_client() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {DECISION_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert set(DECISION_MODULES) <= loaded  # the probe imported what it names
    assert sorted(m for m in loaded if m.split(".")[0] in IO_CLIENTS) == []


MAX_MODULE_LINES = 650
"""CONTRIBUTING.md's "~600 lines", with the margin the tilde gives: split before this."""


def test_no_module_of_services_is_over_650_lines() -> None:
    """A module well over ~600 lines holds more than one concern: split it."""
    package = Path(services.__file__).parent
    sizes = {
        str(path.relative_to(package)): len(path.read_text().splitlines())
        for path in package.rglob("*.py")
    }
    assert len(sizes) > 100  # the probe read the package
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
