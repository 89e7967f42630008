"""A burst of operations across many databases, and the end state every fault test demands.

`Burst` sends, from a few named threads, a create (with an Idempotency-Key) and then a
series of changes for each of N databases through the API, retrying while the API is down,
so a test can crash programs while requests and operations are in flight. `settle` waits
until PostgreSQL holds no open operation; `check_outcome` then asserts, in PostgreSQL, in
the simulated cluster and through the API, that nothing was lost, duplicated or left behind.
No test here.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
from collections import Counter
from typing import Any

from services.clients import postgres
from services.domain import naming
from services.store import projects
from tests.e2e.control_plane import in_sync
from tests.e2e.pod import PROJECT, Pod, wait_for
from tests.fixtures_sim import SimCluster

SEED = int(os.environ.get("DBAAS_FAULT_SEED", "20261126"))
"""Seeds every random choice of the suite; a failing run names it, and setting
DBAAS_FAULT_SEED replays (or varies) the kill points."""
NAMESPACE = projects.namespace_for(PROJECT)
OPEN = ("pending", "running", "waiting")
TERMINAL_EVENTS = ("operation.succeeded", "operation.failed", "operation.cancelled")
CREATE_BODY = {"engine": "postgres", "version": "16.4", "replicas": 2, "storage": "10Gi"}
CHANGES: tuple[dict[str, Any], ...] = ({"replicas": 3}, {"storage": "20Gi"})


@dataclasses.dataclass(frozen=True)
class Plan:
    databases: int = 30
    changes: tuple[dict[str, Any], ...] = CHANGES
    senders: int = 4
    prefix: str = "db"

    @property
    def names(self) -> list[str]:
        return [f"{self.prefix}{index:03d}" for index in range(self.databases)]

    @property
    def requests(self) -> int:
        return self.databases * (1 + len(self.changes))

    @property
    def operations(self) -> int:
        return self.requests

    def final(self) -> dict[str, Any]:
        """The desired spec every database ends with."""
        spec = dict(CREATE_BODY)
        for change in self.changes:
            spec |= change
        return spec


class Burst:
    """The plan's requests, sent by `plan.senders` threads; each database's in order."""

    def __init__(
        self, pod: Pod, plan: Plan, *, retry_seconds: float = 90.0, pace: float = 0.0
    ) -> None:
        self.pod = pod
        self.plan = plan
        self.retry_seconds = retry_seconds
        self.pace = pace
        """Seconds each sender lets pass after an answer: clients arriving over time, so a
        burst still runs when a crashed API is back (its requests take milliseconds)."""
        self.ids: dict[str, str] = {}
        self.answered = 0
        self.errors: list[BaseException] = []
        self.started = 0.0
        self.finished = 0.0
        self._progress = threading.Condition()
        self._threads = [
            threading.Thread(target=self._send, args=(index,), name=f"burst-sender-{index}")
            for index in range(plan.senders)
        ]

    def start(self) -> Burst:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def join(self, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"burst senders still running after {timeout}s: {alive}"
        if self.errors:
            raise AssertionError(f"{len(self.errors)} burst requests failed") from self.errors[0]
        assert len(self.ids) == self.plan.databases

    def wait_answered(self, count: int, *, timeout: float = 60.0) -> None:
        """Block until `count` requests were answered (a kill point inside the burst)."""
        with self._progress:
            ok = self._progress.wait_for(
                lambda: self.answered >= count or bool(self.errors), timeout=timeout
            )
        assert ok and not self.errors, f"only {self.answered} requests answered: {self.errors}"

    def _send(self, index: int) -> None:
        names = self.plan.names[index :: self.plan.senders]
        try:
            with self.pod.client() as client:
                for name in names:
                    self._create(client, name)
                    for change in self.plan.changes:
                        self._change(client, name, change)
        except BaseException as error:
            with self._progress:
                self.errors.append(error)
                self._progress.notify_all()
        finally:
            self.finished = max(self.finished, time.monotonic())

    def _create(self, client: Any, name: str) -> None:
        response = self.pod.call(
            "POST",
            "/v1/databases",
            json={"name": name, **CREATE_BODY},
            headers={"Idempotency-Key": f"create-{name}"},
            retry_seconds=self.retry_seconds,
            client=client,
        )
        assert response.status_code == 202, f"create {name}: {response.status_code} {response.text}"
        self.ids[name] = str(response.json()["id"])
        self._answered()

    def _change(self, client: Any, name: str, change: dict[str, Any]) -> None:
        response = self.pod.call(
            "PATCH",
            f"/v1/databases/{self.ids[name]}",
            json=change,
            retry_seconds=self.retry_seconds,
            client=client,
        )
        assert response.status_code in (200, 202), f"{name} {change}: {response.text}"
        self._answered()

    def _answered(self) -> None:
        with self._progress:
            self.answered += 1
            self._progress.notify_all()
        if self.pace:
            time.sleep(self.pace)


# -- PostgreSQL's view -----------------------------------------------------------------------


def operation_rows(pod: Pod) -> list[dict[str, Any]]:
    with postgres.connect(pod.database_url) as conn:
        return conn.execute(
            "SELECT o.id, o.type, o.state, o.origin, o.attempt, o.k8s_name, o.error,"
            " d.name AS database FROM operations o JOIN databases d ON d.id = o.database_id"
            " ORDER BY o.seq"
        ).fetchall()


def states(pod: Pod) -> Counter[str]:
    return Counter(row["state"] for row in operation_rows(pod))


def finished(pod: Pod) -> int:
    """Operations in a terminal state (a progress measure for kill points)."""
    with postgres.connect(pod.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM operations WHERE state NOT IN ('pending', 'running',"
            " 'waiting')"
        ).fetchone()
    assert row is not None
    return int(row["n"])


def settle(pod: Pod, plan: Plan, *, timeout: float) -> float:
    """Wait until every planned operation exists and none is open; seconds waited."""
    started = time.monotonic()

    def done() -> bool:
        counts = states(pod)
        return sum(counts.values()) >= plan.operations and not any(counts[s] for s in OPEN)

    wait_for(done, timeout=timeout, what=f"every operation to end ({states(pod)})")
    return time.monotonic() - started


@dataclasses.dataclass(frozen=True)
class Outcome:
    operations: int
    succeeded: int
    resumed: int
    """Operations claimed more than once (a worker died or a job was released)."""
    opsrequests: int


def check_outcome(pod: Pod, sim: SimCluster, plan: Plan, ids: dict[str, str]) -> Outcome:
    """Nothing lost, nothing duplicated, nothing left open, desired == observed."""
    rows = operation_rows(pod)
    assert len(rows) == plan.operations, f"{len(rows)} operations, planned {plan.operations}"
    open_ops = [r for r in rows if r["state"] in OPEN]
    assert not open_ops, f"operations left open: {open_ops}"
    unsuccessful = [r for r in rows if r["state"] != "succeeded"]
    assert not unsuccessful, f"operations that did not succeed: {unsuccessful}"
    assert {r["origin"] for r in rows} == {"api"}, "a drift operation during the burst"
    per_database = Counter(r["database"] for r in rows)
    assert set(per_database.values()) == {plan.operations // plan.databases}, per_database
    _check_terminal_events(pod, rows)
    opsrequests = _check_opsrequests_created_once(sim, rows)
    for name, database_id in ids.items():
        db = pod.database(database_id)
        status = db["status"]
        assert db["state"] == "ready", (name, db)
        assert status["phase"] == "Ready", (name, status)
        assert status["observed_generation"] == db["generation"], (name, db)
        assert in_sync(db), (name, db)
        assert {field: db[field] for field in plan.final()} == plan.final(), (name, db)
    outcome = Outcome(
        operations=len(rows),
        succeeded=len(rows) - len(unsuccessful),
        resumed=sum(1 for r in rows if r["attempt"] > 1),
        opsrequests=opsrequests,
    )
    print(f"figures: {outcome} databases={len(ids)} seed={SEED}")  # shown by pytest -rP
    return outcome


def _check_terminal_events(pod: Pod, rows: list[dict[str, Any]]) -> None:
    with postgres.connect(pod.database_url) as conn:
        events = conn.execute(
            "SELECT operation_id, kind FROM events WHERE kind = ANY(%s)", (list(TERMINAL_EVENTS),)
        ).fetchall()
    per_operation = Counter(e["operation_id"] for e in events)
    twice = {op: n for op, n in per_operation.items() if n != 1}
    assert not twice, f"operations that ended more than once: {twice}"
    missing = [r["id"] for r in rows if r["id"] not in per_operation]
    assert not missing, f"operations that ended without an event: {missing}"


def _check_opsrequests_created_once(sim: SimCluster, rows: list[dict[str, Any]]) -> int:
    created: dict[str, int] = sim.stats()["opsrequests_created"]
    duplicated = {name: n for name, n in created.items() if n != 1}
    assert not duplicated, f"OpsRequests created more than once: {duplicated}"
    expected = {f"{NAMESPACE}/{r['k8s_name']}" for r in rows if r["type"] in naming.OPS_NAME_WORDS}
    assert set(created) == expected, (sorted(set(created) ^ expected), created)
    return len(created)


def wait_progress(pod: Pod, count: int, *, timeout: float) -> None:
    """Block until `count` operations have ended (a kill point while operations run)."""
    wait_for(lambda: finished(pod) >= count, timeout=timeout, what=f"{count} operations to end")


def seeded_points(name: str, *, low: int, high: int, count: int = 2) -> list[int]:
    """`count` distinct points in [low, high), the same for every run with one SEED."""
    return sorted(random.Random(f"{SEED}-{name}").sample(range(low, high), count))


def open_operations(pod: Pod) -> int:
    counts = states(pod)
    return sum(counts[state] for state in OPEN)


def pending_backlog(pod: Pod) -> bool:
    """Some operation is still waiting for a worker (so a lost queue loses something)."""
    return states(pod)["pending"] > 0
