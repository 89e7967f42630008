"""kill -9 of the worker during a restore, under the real supervisord: the re-run meets the
objects the killed worker made (the database CR that waits for its data, the RestoreSession
named from the operation id) and creates none of them twice; the restore still ends and the
new database becomes ready.
"""

from __future__ import annotations

import os
import signal

import pytest

from services.clients.kube import KubeClient
from services.domain import manifests
from services.domain.resources import RESTORE_SESSION
from tests.e2e.pod import Pod, wait_for
from tests.faults.backup_calls import DATABASE, get, post
from tests.fixtures_sim import SimCluster


@pytest.mark.slow
def test_kill_9_of_the_worker_during_a_restore_creates_nothing_twice(
    backup_pod: tuple[Pod, KubeClient], sim: SimCluster
) -> None:
    pod, cluster = backup_pod
    source = post(pod, "/v1/databases", {"name": "orders", **DATABASE})
    wait_for(lambda: pod.database(source["id"])["state"] == "ready", timeout=90, what="ready")
    backup = post(pod, f"/v1/databases/{source['id']}/backups")
    wait_for(
        lambda: get(pod, f"/v1/backups/{backup['id']}")["state"] == "succeeded",
        timeout=90,
        what="the backup succeeded",
    )
    # The sim makes each create at once and holds its answer back: while one is held, the
    # worker is between "the object exists" and recording that it does.
    (spec,) = pod.specs("worker")
    pid = wait_for(lambda: pod.pid(spec), timeout=30, what="the worker's pid")
    sim.set_latency(0.5, verbs=["create"], after=True)
    restore = {"backup_id": backup["id"]}
    copy = post(pod, "/v1/databases", {"name": "copy", **DATABASE, "restore": restore})
    (operation,) = copy["operations"]
    wait_for(
        lambda: sim.stats()["held_answers"] > 0,
        timeout=60,
        what="the worker waiting for the answer to a create the sim made",
    )
    os.kill(pid, signal.SIGKILL)
    pod.wait_back(spec, pid)
    sim.set_latency(0.0)
    done = wait_for(
        lambda: (
            (op := get(pod, f"/v1/operations/{operation['id']}"))["state"]
            in ("succeeded", "failed")
            and op
        ),
        timeout=90,
        what="the restore ended",
    )
    assert done["state"] == "succeeded", done["error"]
    assert done["attempt"] >= 2, "the kill interrupted no claim of the restore"
    wait_for(lambda: pod.database(copy["id"])["state"] == "ready", timeout=60, what="copy ready")
    sessions, _ = cluster.list_all(
        RESTORE_SESSION, label_selector=f"{manifests.LABEL_OPERATION_ID}={operation['id']}"
    )
    assert len(sessions) == 1
    assert sessions[0]["status"]["phase"] == "Succeeded"
    assert "already existed" in pod.log(), "no re-run met an object the killed worker made"
