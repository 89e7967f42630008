"""The reliability soak's short form: `bench/soak.py` for 60 s against the whole pod.

The soak injects kill -9, SIGSTOP, PostgreSQL backend terminations, Redis flushes and
cluster error bursts at seeded moments (DBAAS_FAULT_SEED) under four API clients, then
checks its invariants and exits 1 when one fails; this test holds it to exit 0 and to
having injected faults and checked every invariant.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECONDS = 60


@pytest.mark.timeout(900)  # 60 s of soak, the pod's start, settling and the checks
def test_a_sixty_second_soak_holds_every_invariant(redis_url: str) -> None:
    seed = os.environ.get("DBAAS_FAULT_SEED", "1")
    env = {**os.environ, "DBAAS_BENCH_REDIS_URL": redis_url}  # this test's Redis db
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--seconds", str(SECONDS),
         "--seed", seed, "--fault-every", "4"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    print(done.stdout[-4000:])  # the tables (pytest -rP)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    table = done.stdout[done.stdout.index("invariant") :]
    assert table.count(" held ") == 6
    injected = done.stdout[done.stdout.index("fault ") : done.stdout.index("answers")]
    assert sum(int(line.split()[-1]) for line in injected.splitlines()[2:] if line.strip()) > 0
