"""kill -9 of status-sync during a backup and during a restore, under the real supervisord.

status-sync is stopped (SIGSTOP) before the change is asked for, so KubeStash runs it to the
end while nobody watches, and is then killed: the status-sync supervisord starts again has
only its lists to learn from. The backup and the restore still end as KubeStash ended them,
each recorded once, and nothing in the cluster exists twice.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from services.clients.kube import KubeClient
from services.domain import manifests
from services.domain.resources import BACKUP_SESSION, RESTORE_SESSION, SNAPSHOT, Resource
from tests.e2e.pod import Pod, wait_for
from tests.faults.backup_calls import DATABASE, get, post

PROGRAM = "status-sync"


def _phases(cluster: KubeClient, resource: Resource, selector: str) -> list[str]:
    items, _ = cluster.list_all(resource, label_selector=selector)
    return [str((item.get("status") or {}).get("phase")) for item in items]


def _ended(pod: Pod, path: str) -> dict[str, Any] | None:
    found = get(pod, path)
    return found if found["state"] in ("succeeded", "failed") else None


def _ready_source(pod: Pod) -> dict[str, Any]:
    source = post(pod, "/v1/databases", {"name": "orders", **DATABASE})
    wait_for(lambda: pod.database(source["id"])["state"] == "ready", timeout=90, what="ready")
    return source


def _stop_status_sync(pod: Pod) -> int:
    pid = wait_for(lambda: pod.pid(PROGRAM), timeout=30, what="status-sync's pid")
    os.kill(pid, signal.SIGSTOP)
    return pid


def _kill_and_wait_back(pod: Pod, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    pod.wait_back(PROGRAM, pid)


@pytest.mark.slow
def test_kill_9_of_status_sync_during_a_backup_records_it_once(
    backup_pod: tuple[Pod, KubeClient],
) -> None:
    pod, cluster = backup_pod
    source = _ready_source(pod)
    pid = _stop_status_sync(pod)
    backup = post(pod, f"/v1/databases/{source['id']}/backups")
    selector = f"{manifests.LABEL_OPERATION_ID}={backup['operation_id']}"
    wait_for(
        lambda: _phases(cluster, BACKUP_SESSION, selector) == ["Succeeded"],
        timeout=60,
        what="KubeStash finished the backup while status-sync was stopped",
    )
    assert get(pod, f"/v1/backups/{backup['id']}")["state"] in ("pending", "running")
    _kill_and_wait_back(pod, pid)
    done = wait_for(
        lambda: _ended(pod, f"/v1/backups/{backup['id']}"), timeout=60, what="backup ended"
    )
    assert done["state"] == "succeeded", done["error"]
    assert done["snapshot"] and done["size_bytes"] > 0
    assert _phases(cluster, BACKUP_SESSION, selector) == ["Succeeded"]
    # The database's schedule may have taken backups too: each is one row of its own.
    listed = get(pod, f"/v1/databases/{source['id']}/backups")["items"]
    assert [item["id"] for item in listed if item["origin"] == "manual"] == [backup["id"]]
    recorded = [item["snapshot"] for item in listed]
    assert len(set(recorded)) == len(recorded), recorded
    snapshots, _ = cluster.list_all(SNAPSHOT)
    assert [s["metadata"]["name"] for s in snapshots].count(done["snapshot"]) == 1


@pytest.mark.slow
def test_kill_9_of_status_sync_during_a_restore_ends_it_once(
    backup_pod: tuple[Pod, KubeClient],
) -> None:
    pod, cluster = backup_pod
    source = _ready_source(pod)
    backup = post(pod, f"/v1/databases/{source['id']}/backups")
    wait_for(lambda: _ended(pod, f"/v1/backups/{backup['id']}"), timeout=60, what="backed up")
    pid = _stop_status_sync(pod)
    copy = post(
        pod, "/v1/databases", {"name": "copy", **DATABASE, "restore": {"backup_id": backup["id"]}}
    )
    (operation,) = copy["operations"]
    selector = f"{manifests.LABEL_OPERATION_ID}={operation['id']}"
    wait_for(
        lambda: _phases(cluster, RESTORE_SESSION, selector) == ["Succeeded"],
        timeout=60,
        what="KubeStash finished the restore while status-sync was stopped",
    )
    assert pod.database(copy["id"])["state"] != "ready"
    _kill_and_wait_back(pod, pid)
    done = wait_for(
        lambda: _ended(pod, f"/v1/operations/{operation['id']}"), timeout=90, what="restored"
    )
    assert done["state"] == "succeeded", done["error"]
    wait_for(lambda: pod.database(copy["id"])["state"] == "ready", timeout=60, what="copy ready")
    assert _phases(cluster, RESTORE_SESSION, selector) == ["Succeeded"]
    succeeded = [
        op
        for op in get(pod, f"/v1/databases/{copy['id']}/operations")["items"]
        if op["type"] == "restore"
    ]
    assert [op["id"] for op in succeeded] == [operation["id"]]
