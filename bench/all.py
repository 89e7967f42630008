"""`make bench`: every benchmark script with its quick settings, then one summary table.

    .venv/bin/python bench/all.py [--full] [--only NAME ...]

Runs the scripts one after another (never in parallel: each measures against a baseline
in the same run, and two would share the CPU), passes their progress (stderr) and tables
(stdout) through, and ends with one table: each benchmark, whether it finished, its wall
time and the figures of its JSON line. A script that fails (e.g. `wrk` missing for
api_throughput) is reported and the others still run; the exit status is 1 when any
failed. `--full` runs each with its default (long) settings instead of the quick ones.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, REPO, format_table

# name -> the quick arguments (each script's own --quick, or small sizes where it has none)
BENCHMARKS: dict[str, list[str]] = {
    "cli_latency": ["--quick"],
    "operations_throughput": ["--quick"],
    "reconcilers": ["--databases", "1000", "--changes", "40"],
    "api_throughput": ["--quick"],
    "api_under_load": ["--quick"],
    "sim_scale": ["--quick"],
    "pod_memory": ["--quick"],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="default (long) settings")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run these only")
    return parser.parse_args()


def last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def headline(figures: dict[str, Any] | None, width: int = 90) -> str:
    """The JSON line's top-level numbers, `name=value` in its order, cut to `width`."""
    if figures is None:
        return "-"
    parts = [
        f"{key}={value}"
        for key, value in figures.items()
        if key != "benchmark" and isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    text = " ".join(parts) or "(see its table)"
    return text if len(text) <= width else text[: width - 1] + "…"


def run(name: str, args: list[str]) -> tuple[int, float, dict[str, Any] | None]:
    print(f"\n=== bench/{name}.py {' '.join(args)}", flush=True)
    started = time.monotonic()
    done = subprocess.run(
        [PYTHON, str(REPO / "bench" / f"{name}.py"), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    elapsed = time.monotonic() - started
    print(done.stdout, end="", flush=True)
    return done.returncode, elapsed, last_json_line(done.stdout)


def main() -> int:
    options = parse_args()
    names = options.only or list(BENCHMARKS)
    rows = []
    for name in names:
        code, elapsed, figures = run(name, [] if options.full else BENCHMARKS[name])
        rows.append([name, "ok" if code == 0 else f"failed ({code})", elapsed, headline(figures)])
    print("\n" + format_table(["benchmark", "result", "seconds", "figures"], rows))
    return 0 if all(row[1] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
