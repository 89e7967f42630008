"""The suites run in the order that shows a failure early, and none is left out."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTPATHS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
    "ini_options"
]["testpaths"]


def test_every_directory_of_tests_is_a_testpath() -> None:
    suites = {
        f"tests/{path.parent.relative_to(REPO_ROOT / 'tests').parts[0]}"
        for path in (REPO_ROOT / "tests").rglob("test_*.py")
        if path.parent != REPO_ROOT / "tests"
    }
    assert suites - set(TESTPATHS) == set()
    assert len(TESTPATHS) == len(set(TESTPATHS))


def test_the_fast_suites_run_before_the_slow_ones() -> None:
    order = {path: i for i, path in enumerate(TESTPATHS)}
    assert TESTPATHS[0] == "tests/unit"
    assert order["tests/integration"] < order["tests/e2e"] < order["tests/faults"]
    assert TESTPATHS[-1] == "tests/container"  # builds and runs the image: the slowest


def _make_variable(makefile: str, name: str) -> list[str]:
    line = next(line for line in makefile.splitlines() if line.startswith(f"{name} :="))
    return line.split(":=", 1)[1].split()


def test_make_test_runs_the_unit_suite_first_and_then_every_other_suite_once() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("pytest tests/unit") < recipe.index("pytest $(MAIN_SUITES)")
    assert "$(SIDE_SUITES)" in recipe
    side, main = _make_variable(makefile, "SIDE_SUITES"), _make_variable(makefile, "MAIN_SUITES")
    assert sorted(side + main) == sorted(path for path in TESTPATHS if path != "tests/unit")
