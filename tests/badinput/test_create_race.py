"""A thousand concurrent creates of one name: exactly one database, one 202 and 999 409s.

Against `dbaas api` as supervisord runs it, in both shapes: one process (the pod's default)
and a Hypercorn master with two forked workers, each with its own connection pool; real
PostgreSQL and Redis and the simulated cluster's catalog. The requests come from one
asyncio client over 1,000 connections at once, so the race is decided where it must be: by
the unique constraint in PostgreSQL, across connections and processes, not by a lock
inside one of them. Each request carries
its own Idempotency-Key so that the few the kernel resets in such a burst can be resent
safely (see `_create`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from rq import Queue

from services.clients import postgres
from services.store import keys
from tests.api_harness import PROBLEM_BASE, free_port, spec, wait_until
from tests.fixtures_sim import SimCluster

CONCURRENT = 1000
QUEUE = "dbaas-race-operations"


@pytest.fixture(name="served", params=["1", "2"], ids=["one-process", "master-and-2-workers"])
def served_fixture(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sim: SimCluster,
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    """`dbaas api` with `request.param` workers; yields its URL."""
    port = free_port()
    log = tmp_path / "api.log"
    env = {
        **os.environ,
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "DBAAS_HOME": str(tmp_path / "home"),
        "DBAAS_KUBECONFIG": str(sim.kubeconfig),
        "DBAAS_API_PORT": str(port),
        "DBAAS_QUEUE_NAME": QUEUE,
        "DBAAS_PROGRAM": "api",
        "DBAAS_RATE_WRITES_PER_SECOND": "0",  # one key's thousand writes at once: no limit
        "DBAAS_API_WORKERS": request.param,
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api"], env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, timeout=30)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _create(client: httpx.AsyncClient, index: int, resent: list[int]) -> httpx.Response:
    """One create; resent (same Idempotency-Key) when the connection breaks before an answer.

    A burst of 1,000 new connections overflows the listen backlog, and under load the
    kernel may reset a connection the client already wrote its request into. The key makes
    the resend safe: a request that was in fact carried out is replayed, not repeated.
    """
    headers = {"Idempotency-Key": f"race-{index}"}
    for _ in range(5):
        try:
            return await client.post("/v1/databases", json=spec("orders"), headers=headers)
        except httpx.TransportError:
            resent.append(index)
            await asyncio.sleep(0.2)
    raise AssertionError(f"create {index}: no answer after 5 tries")


async def _create_all(url: str, token: str, resent: list[int]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60
    ) as client:
        # Nothing is warmed first: the key cache and the catalog cache of every worker are
        # filled by the racing requests themselves, which is part of the race.
        return await asyncio.gather(*(_create(client, i, resent) for i in range(CONCURRENT)))


def test_a_thousand_concurrent_creates_of_one_name_make_exactly_one_database(
    served: str, database_url: str, redis_url: str
) -> None:
    with postgres.connect(database_url) as conn:
        token = keys.create(conn, project_id="alpha", role="operator")
    started = time.monotonic()
    resent: list[int] = []
    answers = asyncio.run(_create_all(served, token, resent))
    elapsed = time.monotonic() - started
    print(f"{CONCURRENT} creates in {elapsed:.1f}s, {len(resent)} resent after a broken connection")

    assert len(resent) < CONCURRENT // 10
    assert Counter(r.status_code for r in answers) == {202: 1, 409: CONCURRENT - 1}
    conflicts = [r.json() for r in answers if r.status_code == 409]
    assert {p["type"] for p in conflicts} == {PROBLEM_BASE + "name-taken"}
    [accepted] = [r.json() for r in answers if r.status_code == 202]
    with postgres.connect(database_url) as conn:
        rows = conn.execute("SELECT id FROM databases WHERE name = 'orders'").fetchall()
        ops = conn.execute("SELECT id, type FROM operations").fetchall()
        kinds = [r["kind"] for r in conn.execute("SELECT kind FROM events").fetchall()]
    assert [str(row["id"]) for row in rows] == [accepted["id"]]
    assert [(str(op["id"]), op["type"]) for op in ops] == [
        (accepted["operations"][0]["id"], "create")
    ]
    assert kinds == ["database.create-requested"]
    connection = redis.Redis.from_url(redis_url)
    try:
        queued = [job.args[0] for job in Queue(QUEUE, connection=connection).get_jobs()]
    finally:
        connection.close()
    assert queued == [accepted["operations"][0]["id"]]
