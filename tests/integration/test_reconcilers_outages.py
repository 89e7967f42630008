"""The reconcilers outlive outages: PostgreSQL cut away, Kubernetes answering 503, and the
commands run one cycle on demand."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY

from services.clients import postgres
from services.reconcilers import wiring
from services.reconcilers.daemon import Daemon
from services.reconcilers.leader import AlwaysLeader
from services.reconcilers.status_sync.loop import StatusSync
from services.settings import Settings
from tests.api_harness import Cuttable
from tests.fixtures_sim import SimCluster
from tests.integration.reconciler_world import World
from tests.integration.test_reconcilers_status_sync import FAST

REPO = Path(__file__).resolve().parents[2]


def wait_until(check: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.05)


@pytest.fixture
def postgres_behind_a_cable(database_url: str) -> Iterator[tuple[Cuttable, str]]:
    """A URL of the test's database through a TCP forwarder the test can cut."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    proxy = Cuttable((str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))))
    proxy.restore()
    try:
        yield proxy, psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    finally:
        proxy.cut()


def test_status_sync_keeps_running_through_a_postgres_outage(
    database_url: str,
    redis_url: str,
    sim: SimCluster,
    postgres_behind_a_cable: tuple[Cuttable, str],
) -> None:
    proxy, proxied_url = postgres_behind_a_cable
    world = World(database_url, redis_url, sim, FAST)  # the test's side: direct, never cut
    pool = postgres.create_pool(proxied_url, name="outage-status-sync", max_size=2)
    program = StatusSync(pool=pool, cluster=world.cluster, queue=world.queue, config=FAST)
    elector = wiring.elector_for(Settings(database_url=proxied_url), "status-sync")
    daemon = Daemon(program, elector, standby_seconds=0.2)
    daemon.backoff.initial, daemon.backoff.maximum = 0.1, 0.5
    runner = threading.Thread(target=daemon.run, name="test-status-sync-daemon")
    runner.start()
    try:
        db = world.create("orders")
        world.work(db.id)
        wait_until(lambda: world.database(db.id).state == "ready")
        proxy.cut()
        wait_until(lambda: not daemon.leading)
        world.sim.set_phase("postgreses", "dbaas-acme", "orders", "Critical")
        time.sleep(1.0)  # a few failing turns: the daemon must keep going
        assert runner.is_alive()
        proxy.restore()
        wait_until(lambda: world.database(db.id).phase == "Critical")
        assert daemon.leading and runner.is_alive()
    finally:
        daemon.request_stop()
        runner.join(timeout=30)
        pool.close()
        world.close()
    assert not runner.is_alive()
    assert any("standby" in line or "error" in line for line in daemon.outcomes)


def test_drift_backs_off_on_kubernetes_errors_and_recovers(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    world = World(database_url, redis_url, sim, FAST)
    try:
        world.sync.on_promoted()
        world.ready("orders")
        world.sync.on_demoted()  # its watchers must not take the injected error
        sim.inject_errors([503], verbs=["list"], resources=["postgreses"], count=1)
        delays: list[float] = []
        daemon = Daemon(world.drift, AlwaysLeader(), sleep=delays.append)

        def stop_after_two(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) >= 2:
                daemon.request_stop()

        daemon.sleep = stop_after_two
        before = REGISTRY.get_sample_value(
            "dbaas_reconciler_cycles_total", {"program": "drift", "result": "error"}
        )
        daemon.run()
    finally:
        world.close()
    assert daemon.outcomes[0].startswith("drift: error: KubeError: 503")
    assert daemon.outcomes[1].startswith("drift: 1 checked, 0 drifted")
    assert delays == [1.0, 60]  # backoff after the failure, the pass interval after success
    after = REGISTRY.get_sample_value(
        "dbaas_reconciler_cycles_total", {"program": "drift", "result": "error"}
    )
    assert (after or 0) - (before or 0) == 1


def run_once(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", command, "--once", "--watch-timeout", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_commands_run_one_cycle_with_once_and_print_its_outcome(
    database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path
) -> None:
    world = World(database_url, redis_url, sim, FAST)
    try:
        world.sync.on_promoted()
        db = world.ready("orders")
    finally:
        world.close()
    sim.set_phase("postgreses", "dbaas-acme", "orders", "Critical")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
    env |= {
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "DBAAS_KUBECONFIG": str(sim.kubeconfig),
        "DBAAS_HOME": str(tmp_path),
    }
    synced = run_once("status-sync", env)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("status-sync: ")
    with postgres.connect(database_url) as conn:
        row = conn.execute("SELECT phase FROM databases WHERE id = %s", (db.id,)).fetchone()
    assert row is not None and row["phase"] == "Critical"
    drifted = run_once("drift", env)
    assert drifted.returncode == 0, drifted.stderr
    assert drifted.stdout.strip() == "drift: 1 checked, 0 drifted, 0 orphans, 4 requests"
