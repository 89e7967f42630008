"""BackupStorage, BackupConfiguration -> Repositories, as KubeStash v0.29 handles them.

- BackupStorage: Ready with `BackendInitialized=True` (the sim has no bucket to fail on).
- BackupConfiguration: Invalid when an Addon or task it names is missing (ValidationPassed
  False); Ready when its target exists, every backend's BackupStorage is Ready and its
  RetentionPolicy found, with `SchedulerEnsured` per session; NotReady otherwise. Once
  Ready it creates its Repositories and triggers one backup at once (`InitialBackupTriggered`).
- Repository: Ready, with the counts, size and recent Snapshots KubeStash reports.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from services.sim import errors, objects
from services.sim.kubestash import backups, status

if TYPE_CHECKING:
    from services.sim.kubestash.controller import StashController


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
        backups.repository_snapshots(ctl, namespace, name),
        key=lambda s: (s.get("status") or {}).get("snapshotTime", ""),
        reverse=True,
    )
    succeeded = [s for s in snapshots if (s.get("status") or {}).get("phase") == "Succeeded"]
    total = sum(backups.size_bytes(s) for s in succeeded)
    old = repo.get("status") or {}
    new: dict[str, Any] = {
        "phase": "Ready",
        "integrity": True,
        "snapshotCount": len(snapshots),
        "size": backups.human_size(total),
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
