"""No deadlock reaches a user: one database hammered by concurrent PATCH, DELETE, restart and
cancel over HTTP while a worker claims its operations and completions end them.

Before the lock order (`store.databases.LOCK_ORDER`), a DELETE or PATCH holding the database
row `FOR UPDATE` and cancelling a pending operation deadlocked with the worker's claim
(its event insert's `FOR KEY SHARE` on the same row) and with completions that locked the
operation before the database: 503 "PostgreSQL unavailable", and an RQ job failed with
`DeadlockDetected`. The counts are fixed; nothing here is timed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.clients import postgres
from services.control import outcomes
from services.store import keys
from services.worker import jobs
from tests.api_harness import api_settings, running_api, spec
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import PROJECT, World, make_world

ROUNDS = 12
TERMINAL = {"succeeded", "failed", "cancelled"}
ACCEPTABLE = {
    200,
    202,
    404,
    409,
    412,
}  # done or refused for the database's state, never a server error


@pytest.fixture(name="world")
def world_fixture(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def deadlocks(database_url: str) -> int:
    with postgres.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row["deadlocks"])


class Claimer:
    """The worker's side, in a loop until told to stop: claim and apply every pending
    operation (jobs.execute, as an RQ job would), and end every waiting one as status-sync
    does when KubeDB reports success (outcomes.succeed_operation)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.claims = 0
        self.thread = threading.Thread(target=self._loop, name="hammer-claimer")

    def _loop(self) -> None:
        try:
            while not self.stopping.is_set():
                self.drain_once()
        except BaseException as exc:
            self.errors.append(exc)

    def drain_once(self) -> int:
        with postgres.connect(self.world.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT id, state FROM operations WHERE state IN ('pending', 'waiting')"
                " ORDER BY seq"
            ).fetchall()
            for row in rows:
                if row["state"] == "waiting":
                    postgres.retry_conflicts(
                        lambda op_id=row["id"]: outcomes.succeed_operation(
                            conn, op_id, actor="status-sync"
                        )
                    )
        for row in rows:
            if row["state"] == "pending":
                jobs.execute(self.world.context, str(row["id"]))
                self.claims += 1
        return len(rows)


def test_a_database_hammered_while_the_worker_claims_never_deadlocks_or_fails(
    world: World,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sim: SimCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    before = deadlocks(database_url)
    with postgres.connect(database_url) as conn:
        token = keys.create(conn, project_id=PROJECT, role="operator")
    settings = dataclasses.replace(
        api_settings(database_url, redis_url, tmp_path), kubeconfig=str(sim.kubeconfig)
    )
    answers: list[tuple[str, int, str]] = []
    claimer = Claimer(world)
    with running_api(settings, auth_ttl=0) as api:
        headers = {"Authorization": f"Bearer {token}"}
        clients = [httpx.Client(base_url=api.url, headers=headers, timeout=60) for _ in range(6)]
        claimer.thread.start()
        try:
            for round_number in range(ROUNDS):
                created = clients[0].post("/v1/databases", json=spec(f"db{round_number}"))
                assert created.status_code == 202, created.text
                database_id = created.json()["id"]
                barrier = threading.Barrier(len(clients))

                def hammer(
                    index: int,
                    client: httpx.Client,
                    db: str = database_id,
                    start: threading.Barrier = barrier,
                ) -> None:
                    start.wait()
                    for step in range(4):
                        method, path, body = _request(index, step, db, client)
                        response = client.request(method, path, json=body)
                        answers.append((f"{method} {path}", response.status_code, response.text))

                threads = [
                    threading.Thread(target=hammer, args=(i, c), name=f"hammer-{i}")
                    for i, c in enumerate(clients)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=120)
                    assert not thread.is_alive()
        finally:
            claimer.stopping.set()
            claimer.thread.join(timeout=120)
            for client in clients:
                client.close()
    while claimer.drain_once():  # whatever is still open ends now, in order
        pass

    assert claimer.errors == []
    assert claimer.claims > 0
    server_errors = [answer for answer in answers if answer[1] >= 500]
    assert server_errors == []
    assert {status for _, status, _ in answers} <= ACCEPTABLE
    assert any(status == 202 for _, status, _ in answers)
    rolled_back = [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()]
    assert not any("Deadlock" in message for message in rolled_back), rolled_back
    assert deadlocks(database_url) == before
    _assert_consistent(database_url)


def _request(index: int, step: int, database_id: str, client: httpx.Client) -> tuple[str, str, Any]:
    """Six clients, four requests each: scalers, restarters, cancellers and one deleter."""
    kind = index % 6
    if kind in (0, 1):
        return "PATCH", f"/v1/databases/{database_id}", {"replicas": 1 + (step + index) % 3}
    if kind == 2:
        return "POST", f"/v1/databases/{database_id}/restart", None
    if kind in (3, 4):
        listed = client.get(f"/v1/databases/{database_id}/operations", params={"state": "pending"})
        pending = listed.json()["items"] if listed.status_code == 200 else []
        target = pending[-1]["id"] if pending else str(uuid.UUID(int=0))
        return "POST", f"/v1/operations/{target}/cancel", None
    if step == 3:
        return "DELETE", f"/v1/databases/{database_id}", None
    return "PATCH", f"/v1/databases/{database_id}", {"storage": f"{11 + step}Gi"}


def _assert_consistent(database_url: str) -> None:
    check: Callable[[str], list[dict[str, Any]]]
    with postgres.connect(database_url) as conn:

        def check(query: str) -> list[dict[str, Any]]:
            return list(conn.execute(query).fetchall())

        open_ops = check("SELECT id, state FROM operations WHERE state NOT IN "
                         "('succeeded', 'failed', 'cancelled')")  # fmt: skip
        assert open_ops == []
        deleted_without_delete = check(
            "SELECT d.id FROM databases d WHERE d.state = 'deleted' AND NOT EXISTS"
            " (SELECT 1 FROM operations o WHERE o.database_id = d.id"
            "  AND ((o.type = 'delete' AND o.state = 'succeeded')"
            "   OR (o.type = 'create' AND o.state = 'cancelled')))"
        )
        assert deleted_without_delete == []
        deleted_but_live = check(
            "SELECT d.id FROM databases d WHERE d.state <> 'deleted' AND EXISTS"
            " (SELECT 1 FROM operations o WHERE o.database_id = d.id"
            "  AND o.type = 'delete' AND o.state = 'succeeded')"
        )
        assert deleted_but_live == []
        ahead_of_desired = check(
            "SELECT o.id FROM operations o JOIN databases d ON d.id = o.database_id"
            " WHERE o.generation > d.generation"
        )
        assert ahead_of_desired == []
