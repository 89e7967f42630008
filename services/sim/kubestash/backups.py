"""BackupSessions -> Snapshots, as KubeStash v0.29 runs them (KUBESTASH-API.md §1.4-1.6, §4).

A BackupSession is Skipped when its BackupConfiguration is not Ready or another session of
it is running; else it gets one Snapshot per Repository (`<repo>-<session>`, KubeStash's
labels, the `kubedb.com/db-version` annotation, owned by the Repository), runs for one step,
then Succeeds (or Fails / hangs by fault), then retention runs per Repository
(`retention`). Also the names and labels the other halves share.

Writes go through `ApiServer` as trusted operator writes; every function re-reads what it
acts on. The controller calls these; this module never schedules anything but its own step.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import zlib
from typing import TYPE_CHECKING, Any

from services.sim import errors, objects
from services.sim.kubestash import configurations, retention, status

if TYPE_CHECKING:
    from services.sim.kubestash.controller import StashController

FINALIZER = "kubestash.com/cleanup"
LABEL_KIND = "kubestash.com/app-ref-kind"
LABEL_NAME = "kubestash.com/app-ref-name"
LABEL_NAMESPACE = "kubestash.com/app-ref-namespace"
LABEL_REPO = "kubestash.com/repo-name"
ANNOTATION_DB_VERSION = "kubedb.com/db-version"
COMPONENT = "dump"
TERMINAL = ("Succeeded", "Failed", "Skipped")
_PERIOD = re.compile(r"(\d+)(mo|y|w|d|h|m)")
_PERIOD_SECONDS = {
    "y": 365 * 86400,
    "mo": 30 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
}
MAX_NAME = 63


def snapshot_name(repository: str, backup_session: str) -> str:
    """`<repository>-<backupSession>`, shortened past 63 characters as kmodules does."""
    name = f"{repository}-{backup_session}"
    if len(name) <= MAX_NAME:
        return name
    return (name[:32].rstrip("-") + "-" + name[-30:].lstrip("-"))[:MAX_NAME]


def period_seconds(text: str) -> int | None:
    """`1y2mo3w4d5h6m` -> seconds; None when it does not parse."""
    if not text or _PERIOD.sub("", text):
        return None
    return sum(int(n) * _PERIOD_SECONDS[unit] for n, unit in _PERIOD.findall(text))


# -- BackupStorage ---------------------------------------------------------------------


def reconcile_session(ctl: StashController, namespace: str, name: str) -> None:
    rt = ctl.rt("backupsessions")
    session = ctl.cluster.find(rt, namespace, name)
    if session is None:
        return
    meta = session["metadata"]
    if meta.get("deletionTimestamp"):
        ctl.drop_finalizer(rt, session, FINALIZER)
        return
    phase = (session.get("status") or {}).get("phase")
    if phase in TERMINAL:
        return
    bc = ctl.cluster.find(
        ctl.rt("backupconfigurations"),
        namespace,
        ((session.get("spec") or {}).get("invoker") or {}).get("name", ""),
    )
    if not phase:
        _start_session(ctl, session, bc)
    elif phase == "Running" and meta["uid"] not in ctl.hanging:
        uid = meta["uid"]
        ctl.tasks.later(
            f"backup:{uid}", ctl.step_delay, lambda: finish_session(ctl, namespace, name, uid)
        )


def _start_session(
    ctl: StashController, session: dict[str, Any], bc: dict[str, Any] | None
) -> None:
    rt = ctl.rt("backupsessions")
    meta = session["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    spec = session.get("spec") or {}
    now = ctl.wall_now()
    patch: dict[str, Any] = {
        "metadata": {
            "finalizers": [*(meta.get("finalizers") or []), FINALIZER]
            if FINALIZER not in (meta.get("finalizers") or [])
            else meta.get("finalizers")
        }
    }
    if bc is not None and not meta.get("ownerReferences"):
        patch["metadata"]["ownerReferences"] = [status.owner(bc)]
    ctl.merge(rt, namespace, name, patch)
    bc_session = None
    if bc is not None:
        bc_session = next(
            (
                s
                for s in (bc.get("spec") or {}).get("sessions") or []
                if s.get("name") == spec.get("session")
            ),
            None,
        )
    reason = None
    if bc is None or (bc.get("status") or {}).get("phase") != "Ready" or bc_session is None:
        reason = "backup invoker is not ready"
    elif any(
        entry.obj["metadata"]["name"] != name
        and (entry.obj.get("status") or {}).get("phase") in ("Pending", "Running")
        for entry in ctl.cluster.iterate(
            rt, namespace, lambda o: invoker_of(o) == invoker_of(session)
        )
    ):
        reason = "another backup was running"
    if reason is not None or bc is None or bc_session is None:
        ctl.write_status(
            rt,
            namespace,
            name,
            {
                "phase": "Skipped",
                "conditions": [
                    status.condition(
                        "BackupSkipped",
                        True,
                        "PreRequisitesNotSatisfied",
                        f"Skipped taking backup: {reason}",
                        now=now,
                    )
                ],
            },
        )
        return
    target = (bc.get("spec") or {}).get("target") or {}
    db = ctl.find_target(target, namespace)
    fault = ctl.faults.kubestash.take_backup(namespace, target.get("name", ""))
    snapshots = []
    for repo in bc_session.get("repositories") or []:
        snap = _create_snapshot(ctl, session, bc, repo["name"], db)
        snapshots.append(
            {
                "name": snap,
                "phase": "Running",
                "repository": repo["name"],
                "appRef": {**target, "namespace": target.get("namespace") or namespace},
            }
        )
    new: dict[str, Any] = {
        "phase": "Running",
        "totalSnapshots": len(snapshots),
        "snapshots": snapshots,
        "conditions": [
            status.condition(
                "SnapshotsEnsured",
                True,
                "SuccessfullyEnsuredSnapshots",
                "Snapshots have been ensured successfully",
                now=now,
            ),
            status.condition(
                "BackupExecutorEnsured",
                True,
                "SuccessfullyEnsuredBackupExecutor",
                "Backup executor has been ensured successfully",
                now=now,
            ),
        ],
    }
    timeout = period_seconds(str(spec.get("backupTimeout") or ""))
    if timeout:
        deadline = ctl.wall() + datetime.timedelta(seconds=timeout)
        new["backupDeadline"] = objects.timestamp(deadline)
    ctl.write_status(rt, namespace, name, new)
    uid = meta["uid"]
    if fault is not None:
        ctl.session_faults[uid] = fault.mode, fault.reason
    if fault is not None and fault.mode == "hang":
        ctl.hanging.add(uid)
        return
    ctl.tasks.later(
        f"backup:{uid}", ctl.step_delay, lambda: finish_session(ctl, namespace, name, uid)
    )


def invoker_of(obj: dict[str, Any]) -> tuple[str, str]:
    spec = obj.get("spec") or {}
    return (spec.get("invoker") or {}).get("name", ""), spec.get("session", "")


def _create_snapshot(
    ctl: StashController,
    session: dict[str, Any],
    bc: dict[str, Any],
    repository: str,
    db: dict[str, Any] | None,
) -> str:
    namespace = session["metadata"]["namespace"]
    target = (bc.get("spec") or {}).get("target") or {}
    name = snapshot_name(repository, session["metadata"]["name"])
    repo = ctl.cluster.find(ctl.rt("repositories"), namespace, repository)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {
            LABEL_KIND: target.get("kind", ""),
            LABEL_NAME: target.get("name", ""),
            LABEL_NAMESPACE: target.get("namespace") or namespace,
            LABEL_REPO: repository,
        },
        "finalizers": [FINALIZER],
    }
    if db is not None:
        metadata["annotations"] = {
            ANNOTATION_DB_VERSION: str((db.get("spec") or {}).get("version", ""))
        }
    if repo is not None:
        metadata["ownerReferences"] = [status.owner(repo)]
    body: dict[str, Any] = {
        "apiVersion": ctl.rt("snapshots").api_version,
        "kind": "Snapshot",
        "metadata": metadata,
        "spec": {
            "snapshotID": status.ulid(ctl.sim_now()),
            "type": "FullBackup",
            "repository": repository,
            "session": (session.get("spec") or {}).get("session", ""),
            "backupSession": session["metadata"]["name"],
            "version": "v1",
            "appRef": {**target, "namespace": target.get("namespace") or namespace},
            "deletionPolicy": "Delete",
        },
    }
    rt = ctl.rt("snapshots")
    with contextlib.suppress(errors.ApiError):
        ctl.cluster.create(rt, namespace, body, trusted=True)
    ctl.write_status(
        rt,
        namespace,
        name,
        {
            "phase": "Running",
            "totalComponents": 1,
            "snapshotTime": objects.timestamp(ctl.sim_now()),
            "components": {
                COMPONENT: {
                    "phase": "Running",
                    "driver": "Restic",
                    "path": f"repository/v1/{body['spec']['session']}/{COMPONENT}",
                }
            },
        },
    )
    return name


def finish_session(ctl: StashController, namespace: str, name: str, uid: str) -> None:
    rt = ctl.rt("backupsessions")
    session = ctl.cluster.find(rt, namespace, name)
    if session is None or session["metadata"]["uid"] != uid:
        return
    old = session.get("status") or {}
    if old.get("phase") != "Running":
        return
    mode, reason = ctl.session_faults.pop(uid, (None, ""))
    now = ctl.wall_now()
    snapshots = []
    for entry in old.get("snapshots") or []:
        failed = mode == "fail"
        _finish_snapshot(ctl, namespace, entry["name"], failed=failed, reason=reason)
        snapshots.append({**entry, "phase": "Failed" if failed else "Succeeded"})
    bc = ctl.cluster.find(ctl.rt("backupconfigurations"), namespace, invoker_of(session)[0])
    applied: list[dict[str, Any]] = []
    for entry in snapshots:
        ref = _retention_ref(bc, entry["repository"], namespace)
        if ref is None:
            continue
        if mode == "fail-retention":
            applied.append(
                {
                    "ref": ref,
                    "repository": entry["repository"],
                    "phase": "FailedToApply",
                    "error": reason,
                }
            )
        else:
            retention.apply_retention(ctl, namespace, entry["repository"], ref)
            applied.append({"ref": ref, "repository": entry["repository"], "phase": "Applied"})
        configurations.refresh_repository(ctl, namespace, entry["repository"])
    failed = any(s["phase"] == "Failed" for s in snapshots) or any(
        r["phase"] == "FailedToApply" for r in applied
    )
    started = session["metadata"].get("creationTimestamp")
    duration = (ctl.wall() - objects.parse_timestamp(started)).total_seconds() if started else 0.0
    new = {
        **old,
        "phase": "Failed" if failed else "Succeeded",
        "snapshots": snapshots,
        "retentionPolicy": applied,
        "duration": f"{duration:.3f}s",
        "conditions": status.merge_conditions(
            old.get("conditions"),
            [
                status.condition(
                    "RetentionPolicyExecutorEnsured",
                    True,
                    "SuccessfullyEnsuredRetentionPolicyExecutor",
                    "Retention policy executor has been ensured successfully",
                    now=now,
                ),
                status.condition(
                    "MetricsPushed",
                    True,
                    "SuccessfullyPushedMetrics",
                    "Metrics have been pushed successfully",
                    now=now,
                ),
            ],
        ),
    }
    ctl.write_status(rt, namespace, name, new)
    if bc is not None:
        retention.clean_history(ctl, bc, invoker_of(session)[1])


def _finish_snapshot(
    ctl: StashController, namespace: str, name: str, *, failed: bool, reason: str
) -> None:
    rt = ctl.rt("snapshots")
    snap = ctl.cluster.find(rt, namespace, name)
    if snap is None:
        return
    old = snap.get("status") or {}
    size = (zlib.crc32(name.encode()) % 100 + 1) * 1024 * 1024
    component = dict((old.get("components") or {}).get(COMPONENT) or {})
    now = ctl.wall_now()
    component.update({"phase": "Failed" if failed else "Succeeded", "duration": "1s"})
    if failed:
        component["error"] = reason
    else:
        component.update({"size": human_size(size), "integrity": True})
    new = {
        **old,
        "phase": "Failed" if failed else "Succeeded",
        "components": {COMPONENT: component},
        "lastUpdateTime": now,
        "conditions": [
            status.condition(
                "SnapshotMetadataUploaded",
                True,
                "SnapshotMetadataUploadSucceeded",
                "Snapshot metadata has been uploaded successfully",
                now=now,
            ),
            status.condition(
                "RecentSnapshotListUpdated",
                True,
                "SuccessfullyUpdatedRecentSnapshotList",
                "Recent snapshot list has been updated successfully",
                now=now,
            ),
        ],
    }
    if not failed:
        new.update({"size": human_size(size), "integrity": True})
    ctl.write_status(rt, namespace, name, new)


def _retention_ref(
    bc: dict[str, Any] | None, repository: str, namespace: str
) -> dict[str, str] | None:
    if bc is None:
        return None
    spec = bc.get("spec") or {}
    backend_name = next(
        (
            r.get("backend")
            for s in spec.get("sessions") or []
            for r in s.get("repositories") or []
            if r.get("name") == repository
        ),
        None,
    )
    for backend in spec.get("backends") or []:
        if backend.get("name") == backend_name or backend_name is None:
            ref = backend.get("retentionPolicy")
            if ref:
                return {"name": ref.get("name", ""), "namespace": ref.get("namespace") or namespace}
    return None


def repository_snapshots(
    ctl: StashController, namespace: str, repository: str
) -> list[dict[str, Any]]:
    """The Snapshots of one Repository not being deleted (through the controller's index:
    no scan of the namespace)."""
    found = []
    for snapshot_namespace, name in ctl.snapshots_by_repository.keys((namespace, repository)):
        snapshot = ctl.cluster.find(ctl.rt("snapshots"), snapshot_namespace, name)
        if snapshot is not None and not snapshot["metadata"].get("deletionTimestamp"):
            found.append(snapshot)
    return found


# -- BackupSession ---------------------------------------------------------------------


def size_bytes(snapshot: dict[str, Any]) -> int:
    text = str((snapshot.get("status") or {}).get("size") or "0 B")
    number, _, unit = text.partition(" ")
    scale = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}.get(unit, 1)
    try:
        return int(float(number) * scale)
    except ValueError:
        return 0


def human_size(size: int) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3f} {unit}"
    return f"{size} B"
