"""Backups: BackupStorage, BackupConfiguration -> Repositories, BackupSession -> Snapshots,
retention and session history, as KubeStash v0.29 does them (KUBESTASH-API.md §1, §4, §5).

- BackupStorage: Ready with `BackendInitialized=True` (the sim has no bucket to fail on).
- BackupConfiguration: Invalid when an Addon or task it names is missing (ValidationPassed
  False); Ready when its target exists, every backend's BackupStorage is Ready and its
  RetentionPolicy found, with `SchedulerEnsured` per session; NotReady otherwise. Once
  Ready it creates its Repositories and triggers one backup at once (`InitialBackupTriggered`).
- BackupSession: Skipped when its BackupConfiguration is not Ready or another session of it
  is running; else one Snapshot per Repository (`<repo>-<session>`, KubeStash's labels, the
  `kubedb.com/db-version` annotation, owned by the Repository), Running for one step, then
  Succeeded (or Failed / hanging by fault), then retention per Repository.
- Retention: older than maxRetentionPeriod goes; of the rest, successfulSnapshots' keep
  rules (last, hourly, daily, weekly, monthly, yearly) keep, and `failedSnapshots.last`
  failed ones stay. Completed BackupSessions beyond `sessionHistoryLimit` are deleted.

Writes go through `Cluster` as trusted operator writes; every function re-reads what it
acts on. The controller calls these; this module never schedules anything itself.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import zlib
from typing import TYPE_CHECKING, Any

from services.sim import errors, objects
from services.sim.kubestash import status

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
_BUCKETS = {
    "hourly": "%Y%m%d%H",
    "daily": "%Y%m%d",
    "weekly": "%G%V",
    "monthly": "%Y%m",
    "yearly": "%Y",
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


def reconcile_storage(ctl: StashController, namespace: str, name: str) -> None:
    rt = ctl.rt("backupstorages")
    storage = ctl.cluster.find(rt, namespace, name)
    if storage is None or storage["metadata"].get("deletionTimestamp"):
        return
    old = storage.get("status") or {}
    provider = ((storage.get("spec") or {}).get("storage") or {}).get("provider", "")
    new = {
        **old,
        "phase": "Ready",
        "conditions": status.merge_conditions(
            old.get("conditions"),
            [
                status.condition(
                    "BackendInitialized",
                    True,
                    "BackendInitializationSucceeded",
                    f"Successfully initialized the {provider or 'storage'} backend",
                    now=ctl.wall_now(),
                )
            ],
        ),
    }
    new.setdefault("totalSize", "0 B")
    ctl.write_status(rt, namespace, name, new)


# -- BackupConfiguration ---------------------------------------------------------------


def reconcile_configuration(ctl: StashController, namespace: str, name: str) -> None:
    rt = ctl.rt("backupconfigurations")
    bc = ctl.cluster.find(rt, namespace, name)
    if bc is None or bc["metadata"].get("deletionTimestamp"):
        ctl.forget_schedules(namespace, name)
        return
    spec = bc.get("spec") or {}
    old = bc.get("status") or {}
    now = ctl.wall_now()
    target = spec.get("target") or {}
    target_found = ctl.find_target(target, namespace) is not None
    invalid = _addon_problems(
        ctl, [s.get("addon") or {} for s in spec.get("sessions") or []], "backupTasks"
    )
    backends = [_backend_status(ctl, backend, namespace) for backend in spec.get("backends") or []]
    ready = not invalid and target_found and all(b["ready"] for b in backends)
    sessions_status = []
    old_sessions = {s.get("name"): s for s in old.get("sessions") or []}
    for session in spec.get("sessions") or []:
        session_name = session.get("name", "")
        schedule = (session.get("scheduler") or {}).get("schedule", "")
        next_run = ctl.schedule_next(namespace, name, session_name, schedule, active=ready)
        previous = old_sessions.get(session_name) or {}
        triggered = any(
            c.get("type") == "InitialBackupTriggered" and c.get("status") == "True"
            for c in previous.get("conditions") or []
        )
        if ready and not triggered and not spec.get("paused"):
            ctl.trigger(bc, session_name, ctl.sim_now())
            triggered = True
        conditions = [
            status.condition(
                "SchedulerEnsured",
                next_run is not None,
                "SchedulerEnsured" if next_run is not None else "FailedToEnsureScheduler",
                f"Scheduler has been ensured for session {session_name}"
                if next_run is not None
                else f"schedule {schedule!r} is not a valid cron expression",
                now=now,
            )
        ]
        if triggered:
            conditions.append(
                status.condition(
                    "InitialBackupTriggered",
                    True,
                    "SuccessfullyTriggeredInitialBackup",
                    "Initial backup has been triggered",
                    now=now,
                )
            )
        entry: dict[str, Any] = {
            "name": session_name,
            "conditions": status.merge_conditions(previous.get("conditions"), conditions),
        }
        if next_run is not None:
            entry["nextSchedule"] = objects.timestamp(next_run)
        sessions_status.append(entry)
    repositories = []
    if ready:
        for repo in _repositories(spec):
            _ensure_repository(ctl, bc, repo)
            repositories.append({"name": repo["name"], "phase": "Ready"})
    else:
        repositories = [{"name": r["name"], "phase": "NotReady"} for r in _repositories(spec)]
    phase = "Invalid" if invalid else "Ready" if ready else "NotReady"
    conditions = [
        status.condition(
            "ValidationPassed",
            not invalid,
            "ResourceValidationPassed" if not invalid else "ResourceValidationFailed",
            "; ".join(invalid) or "Resource validation passed",
            now=now,
        )
    ]
    new = {
        "phase": phase,
        "targetFound": target_found,
        "backends": backends,
        "repositories": repositories,
        "sessions": sessions_status,
        "dependencies": _dependencies(ctl, spec.get("sessions") or []),
        "conditions": status.merge_conditions(old.get("conditions"), conditions),
    }
    ctl.write_status(rt, namespace, name, new)


def _repositories(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        repo
        for session in spec.get("sessions") or []
        for repo in session.get("repositories") or []
        if repo.get("name")
    ]


def _backend_status(
    ctl: StashController, backend: dict[str, Any], namespace: str
) -> dict[str, Any]:
    storage_ref = backend.get("storageRef") or {}
    storage = ctl.cluster.find(
        ctl.rt("backupstorages"),
        storage_ref.get("namespace") or namespace,
        storage_ref.get("name", ""),
    )
    storage_phase = ((storage or {}).get("status") or {}).get("phase", "NotReady")
    entry: dict[str, Any] = {
        "name": backend.get("name", ""),
        "storage": {"ref": storage_ref, "phase": storage_phase if storage else "NotReady"},
    }
    if storage is None:
        entry["storage"]["reason"] = "BackupStorage not found"
    ready = storage is not None and storage_phase == "Ready"
    rp_ref = backend.get("retentionPolicy")
    if rp_ref:
        found = (
            ctl.cluster.find(
                ctl.rt("retentionpolicies"),
                rp_ref.get("namespace") or namespace,
                rp_ref.get("name", ""),
            )
            is not None
        )
        entry["retentionPolicy"] = {"ref": rp_ref, "found": found}
        if not found:
            entry["retentionPolicy"]["reason"] = "RetentionPolicy not found"
        ready = ready and found
    entry["ready"] = ready
    return entry


def _addon_problems(ctl: StashController, addons: list[dict[str, Any]], key: str) -> list[str]:
    problems = []
    for addon in addons:
        name = addon.get("name", "")
        found = ctl.cluster.find(ctl.rt("addons"), None, name)
        if found is None:
            problems.append(f"Addon {name!r} not found")
            continue
        offered = {t.get("name") for t in (found.get("spec") or {}).get(key) or []}
        for task in addon.get("tasks") or []:
            if task.get("name") not in offered:
                problems.append(f"Addon {name!r} has no task {task.get('name')!r}")
    return problems


def _dependencies(ctl: StashController, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = sorted({(s.get("addon") or {}).get("name", "") for s in sessions} - {""})
    return [
        {
            "apiGroup": "addons.kubestash.com",
            "kind": "Addon",
            "name": name,
            "found": ctl.cluster.find(ctl.rt("addons"), None, name) is not None,
        }
        for name in names
    ]


def _ensure_repository(ctl: StashController, bc: dict[str, Any], repo: dict[str, Any]) -> None:
    namespace = bc["metadata"]["namespace"]
    rt = ctl.rt("repositories")
    if ctl.cluster.find(rt, namespace, repo["name"]) is not None:
        return
    spec = bc.get("spec") or {}
    backend = next(
        (b for b in spec.get("backends") or [] if b.get("name") == repo.get("backend")),
        (spec.get("backends") or [{}])[0],
    )
    target = spec.get("target") or {}
    body: dict[str, Any] = {
        "apiVersion": rt.api_version,
        "kind": "Repository",
        "metadata": {"name": repo["name"], "namespace": namespace},
        "spec": {
            "appRef": {**target, "namespace": target.get("namespace") or namespace},
            "storageRef": backend.get("storageRef") or {},
            "path": repo.get("directory", f"/{repo['name']}"),
            "deletionPolicy": "WipeOut" if repo.get("deletionPolicy") == "WipeOut" else "Delete",
        },
    }
    if repo.get("encryptionSecret"):
        body["spec"]["encryptionSecret"] = repo["encryptionSecret"]
    if repo.get("deletionPolicy") in (None, "Delete", "WipeOut"):
        # Deleted with its BackupConfiguration (§5.1); Retain keeps it (and its Snapshots).
        body["metadata"]["ownerReferences"] = [status.owner(bc)]
    with contextlib.suppress(errors.ApiError):
        ctl.cluster.create(rt, namespace, body, trusted=True)
    refresh_repository(ctl, namespace, repo["name"])


def refresh_repository(ctl: StashController, namespace: str, name: str) -> None:
    rt = ctl.rt("repositories")
    repo = ctl.cluster.find(rt, namespace, name)
    if repo is None or repo["metadata"].get("deletionTimestamp"):
        return
    snapshots = sorted(
        repository_snapshots(ctl, namespace, name),
        key=lambda s: (s.get("status") or {}).get("snapshotTime", ""),
        reverse=True,
    )
    succeeded = [s for s in snapshots if (s.get("status") or {}).get("phase") == "Succeeded"]
    total = sum(_size_bytes(s) for s in succeeded)
    old = repo.get("status") or {}
    new: dict[str, Any] = {
        "phase": "Ready",
        "integrity": True,
        "snapshotCount": len(snapshots),
        "size": _human(total),
        "recentSnapshots": [
            {
                "name": s["metadata"]["name"],
                "phase": (s.get("status") or {}).get("phase", "Pending"),
                "session": (s.get("spec") or {}).get("session", ""),
                "size": (s.get("status") or {}).get("size", "0 B"),
                **(
                    {"snapshotTime": t}
                    if (t := (s.get("status") or {}).get("snapshotTime"))
                    else {}
                ),
            }
            for s in snapshots[:5]
        ],
        "conditions": status.merge_conditions(
            old.get("conditions"),
            [
                status.condition(
                    "RepositoryInitialized",
                    True,
                    "RepositoryInitializationSucceeded",
                    "Repository has been initialized successfully",
                    now=ctl.wall_now(),
                )
            ],
        ),
    }
    if succeeded:
        new["lastBackupTime"] = succeeded[0]["status"]["snapshotTime"]
    ctl.write_status(rt, namespace, name, new)


def repository_snapshots(
    ctl: StashController, namespace: str, repository: str
) -> list[dict[str, Any]]:
    return [
        entry.copy()
        for entry in ctl.cluster.iterate(
            ctl.rt("snapshots"),
            namespace,
            lambda obj: (
                (obj["metadata"].get("labels") or {}).get(LABEL_REPO) == repository
                and not obj["metadata"].get("deletionTimestamp")
            ),
        )
    ]


# -- BackupSession ---------------------------------------------------------------------


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
        for entry in ctl.cluster.iterate(rt, namespace, lambda o: _invoker(o) == _invoker(session))
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


def _invoker(obj: dict[str, Any]) -> tuple[str, str]:
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
    bc = ctl.cluster.find(ctl.rt("backupconfigurations"), namespace, _invoker(session)[0])
    retention = []
    for entry in snapshots:
        ref = _retention_ref(bc, entry["repository"], namespace)
        if ref is None:
            continue
        if mode == "fail-retention":
            retention.append(
                {
                    "ref": ref,
                    "repository": entry["repository"],
                    "phase": "FailedToApply",
                    "error": reason,
                }
            )
        else:
            apply_retention(ctl, namespace, entry["repository"], ref)
            retention.append({"ref": ref, "repository": entry["repository"], "phase": "Applied"})
        refresh_repository(ctl, namespace, entry["repository"])
    failed = any(s["phase"] == "Failed" for s in snapshots) or any(
        r["phase"] == "FailedToApply" for r in retention
    )
    started = session["metadata"].get("creationTimestamp")
    duration = (ctl.wall() - objects.parse_timestamp(started)).total_seconds() if started else 0.0
    new = {
        **old,
        "phase": "Failed" if failed else "Succeeded",
        "snapshots": snapshots,
        "retentionPolicy": retention,
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
        _clean_history(ctl, bc, _invoker(session)[1])


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
        component.update({"size": _human(size), "integrity": True})
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
        new.update({"size": _human(size), "integrity": True})
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


def apply_retention(
    ctl: StashController, namespace: str, repository: str, ref: dict[str, str]
) -> list[str]:
    """Delete what the RetentionPolicy does not keep; the names deleted."""
    policy = ctl.cluster.find(ctl.rt("retentionpolicies"), ref["namespace"], ref["name"])
    if policy is None:
        return []
    spec = policy.get("spec") or {}
    now = ctl.sim_now()
    snapshots = sorted(
        (
            s
            for s in repository_snapshots(ctl, namespace, repository)
            # An archive's continuous log snapshot is KubeDB's to prune (logBackup), not ours.
            if (s.get("spec") or {}).get("type") != "IncrementalBackup"
        ),
        key=lambda s: (s.get("status") or {}).get("snapshotTime", ""),
        reverse=True,
    )
    doomed: list[str] = []
    max_age = period_seconds(str(spec.get("maxRetentionPeriod") or ""))
    fresh = []
    for snap in snapshots:
        stamp = (snap.get("status") or {}).get("snapshotTime")
        if max_age and stamp and (now - objects.parse_timestamp(stamp)).total_seconds() > max_age:
            doomed.append(snap["metadata"]["name"])
        else:
            fresh.append(snap)
    succeeded = [s for s in fresh if (s.get("status") or {}).get("phase") == "Succeeded"]
    failed = [s for s in fresh if (s.get("status") or {}).get("phase") == "Failed"]
    rules = {k: v for k, v in (spec.get("successfulSnapshots") or {}).items() if isinstance(v, int)}
    if rules:
        kept = {s["metadata"]["name"] for s in succeeded[: rules.get("last", 0)]}
        for rule, pattern in _BUCKETS.items():
            seen: list[str] = []
            for snap in succeeded:
                bucket = objects.parse_timestamp(snap["status"]["snapshotTime"]).strftime(pattern)
                if bucket not in seen and len(seen) < rules.get(rule, 0):
                    seen.append(bucket)
                    kept.add(snap["metadata"]["name"])
        doomed += [s["metadata"]["name"] for s in succeeded if s["metadata"]["name"] not in kept]
    keep_failed = int((spec.get("failedSnapshots") or {}).get("last", 1))
    doomed += [s["metadata"]["name"] for s in failed[keep_failed:]]
    rt = ctl.rt("snapshots")
    for name in doomed:
        with contextlib.suppress(errors.ApiError):
            ctl.cluster.delete(rt, namespace, name, trusted=True)
    return doomed


def _clean_history(ctl: StashController, bc: dict[str, Any], session_name: str) -> None:
    session_spec: dict[str, Any] = next(
        (s for s in (bc.get("spec") or {}).get("sessions") or [] if s.get("name") == session_name),
        {},
    )
    limit = int(session_spec.get("sessionHistoryLimit", 1))
    rt = ctl.rt("backupsessions")
    key = (bc["metadata"]["name"], session_name)
    done = sorted(
        (
            e.copy()
            for e in ctl.cluster.iterate(
                rt,
                bc["metadata"]["namespace"],
                lambda o: _invoker(o) == key and (o.get("status") or {}).get("phase") in TERMINAL,
            )
        ),
        key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]),
        reverse=True,
    )
    for old in done[limit:]:
        with contextlib.suppress(errors.ApiError):
            ctl.cluster.delete(
                rt, old["metadata"]["namespace"], old["metadata"]["name"], trusted=True
            )


def _size_bytes(snapshot: dict[str, Any]) -> int:
    text = str((snapshot.get("status") or {}).get("size") or "0 B")
    number, _, unit = text.partition(" ")
    scale = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}.get(unit, 1)
    try:
        return int(float(number) * scale)
    except ValueError:
        return 0


def _human(size: int) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3f} {unit}"
    return f"{size} B"
