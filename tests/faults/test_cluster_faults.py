"""A misbehaving cluster during a burst: errors, latency, dropped watches and forced 410s.

The simulated cluster answers 10% of every request, whatever the verb, with 500, 503 or 429
(drawn from the run's seed, as the points below), adds latency to each, closes every watch
every few seconds, and at seeded points forgets its history (every older resourceVersion and
continue token answers 410 Gone). The worker retries and releases, status-sync re-lists and
resumes, the API answers 503 when it cannot read the catalog and the client retries: every
operation still ends exactly once and every database converges.
"""

from __future__ import annotations

import pytest

from tests.e2e.pod import Pod, wait_for
from tests.faults import workload
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

PLAN = Plan()
ERROR_CODES = [500, 503, 429]


@pytest.mark.slow
def test_errors_latency_dropped_watches_and_410s_during_a_burst_still_converge(
    pod: Pod, sim: SimCluster
) -> None:
    sim.set_faults(
        seed=workload.SEED,
        errors=[{"codes": ERROR_CODES, "rate": 0.1, "retry_after": 1}],
        latency={"seconds": 0.02},
        watch_drop={"interval": 3},
    )
    burst = Burst(pod, PLAN).start()
    for point in workload.seeded_points("compact", low=5, high=PLAN.operations - 20, count=3):
        wait_for(
            lambda point=point: workload.finished(pod) >= point,
            timeout=120,
            what=f"{point} operations to end",
        )
        sim.compact()
    burst.join(timeout=180)
    workload.settle(pod, PLAN, timeout=180)
    stats = sim.stats()
    sim.clear_faults()  # the checks below read through the API, which reads the cluster
    workload.check_outcome(pod, sim, PLAN, burst.ids)
    injected = {int(code): n for code, n in stats["injected_errors"].items()}
    assert set(injected) == set(ERROR_CODES), injected
    assert stats["watch_drops"] > 0
    assert "410 Gone, re-listing" in pod.log()
