"""KubeDB's continuous archiving (PITR) and recovery, as the simulated cluster plays them.

What KubeDB does for a database whose `spec.archiver.ref` names a <Kind>Archiver that
admits it (`spec.databases`: namespaces Same/All, label selector) and is not paused
(KUBESTASH-API.md §6): a BackupConfiguration `<db>-archiver` with sessions `full-backup`
(Repository `<db>-full`; Postgres and MySQL `physical-backup`, MongoDB `logical-backup`) and
`manifest-backup` (Repository `<db>-manifest`), on the archiver's schedules, against its
BackupStorage and RetentionPolicy; the regular KubeStash simulation then takes the full
backups. The log shipping is one Snapshot `<db>-full-incremental-snapshot` (type
IncrementalBackup, component `wal`) whose `logStats.start`/`end` follow the simulated clock.
The archiver's status lists the databases using it (`databaseRefs`).

The restorable window is what the facts say a client computes [inferred there]: from the
oldest Succeeded full Snapshot's `snapshotTime` to the incremental Snapshot's
`logStats.end`. `window()` computes it the same way.

Recovery: a new database with `spec.init.archiver.recoveryTimestamp` waits (like
`waitForInitialRestore`); inside the window of its `fullDBRepository` it gets
`DataRestored=True` after one step (then Ready), outside it `DataRestored=False`,
FailedToRestoreData, naming the window; `kubestash.restores` faults apply. KubeDB's exact
conditions for archiver recovery are not in the facts; the RestoreSession ones are used.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import TYPE_CHECKING, Any

from services.sim import errors, objects
from services.sim.kubestash import backups, status

if TYPE_CHECKING:
    from services.sim.kubestash.controller import StashController

GROUP = "archiver.kubedb.com"
ARCHIVERS = {
    "Postgres": "postgresarchivers",
    "MySQL": "mysqlarchivers",
    "MongoDB": "mongodbarchivers",
}
FULL_TASK = {"Postgres": "physical-backup", "MySQL": "physical-backup", "MongoDB": "logical-backup"}
ADDON = {"Postgres": "postgres-addon", "MySQL": "mysql-addon", "MongoDB": "mongodb-addon"}
INCREMENTAL_SUFFIX = "incremental-snapshot"


def configuration_name(db: str) -> str:
    return f"{db}-archiver"


def repositories(db: str) -> tuple[str, str]:
    return f"{db}-full", f"{db}-manifest"


def incremental_name(db: str) -> str:
    return f"{repositories(db)[0]}-{INCREMENTAL_SUFFIX}"


# -- archiving -------------------------------------------------------------------------


def reconcile_archived(ctl: StashController, kind: str, db: dict[str, Any]) -> None:
    """Ensure (or drop) the archiving objects of one database; refresh its archiver."""
    meta = db["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    archiver = _archiver_for(ctl, kind, db)
    bc_rt = ctl.rt("backupconfigurations")
    existing = ctl.cluster.find(bc_rt, namespace, configuration_name(name))
    if archiver is None or meta.get("deletionTimestamp"):
        if existing is not None:
            with contextlib.suppress(errors.ApiError):
                ctl.cluster.delete(bc_rt, namespace, configuration_name(name), trusted=True)
        ctl.archived.pop((namespace, name), None)
        return
    paused = bool(((db.get("spec") or {}).get("archiver") or {}).get("pause")) or bool(
        (archiver.get("spec") or {}).get("pause")
    )
    body = _configuration(kind, db, archiver, paused=paused)
    if existing is None:
        with contextlib.suppress(errors.ApiError):
            ctl.cluster.create(bc_rt, namespace, body, trusted=True)
    elif (existing.get("spec") or {}).get("paused", False) != paused:
        ctl.merge(bc_rt, namespace, configuration_name(name), {"spec": {"paused": paused}})
    ctl.archived[(namespace, name)] = (kind, paused)
    refresh_archiver(ctl, archiver)


def _archiver_for(ctl: StashController, kind: str, db: dict[str, Any]) -> dict[str, Any] | None:
    plural = ARCHIVERS.get(kind)
    ref = ((db.get("spec") or {}).get("archiver") or {}).get("ref") or {}
    if plural is None or not ref.get("name") or plural not in ctl.archiver_types:
        return None
    namespace = db["metadata"]["namespace"]
    archiver = ctl.cluster.find(
        ctl.archiver_types[plural], ref.get("namespace") or namespace, ref["name"]
    )
    if archiver is None or archiver["metadata"].get("deletionTimestamp"):
        return None
    admits = (archiver.get("spec") or {}).get("databases") or {}
    allowed_from = (admits.get("namespaces") or {}).get("from", "Same")
    if allowed_from == "Same" and archiver["metadata"]["namespace"] != namespace:
        return None
    labels = db["metadata"].get("labels") or {}
    wanted = ((admits.get("selector") or {}).get("matchLabels")) or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return None
    return archiver


def _configuration(
    kind: str, db: dict[str, Any], archiver: dict[str, Any], *, paused: bool
) -> dict[str, Any]:
    meta = db["metadata"]
    spec = archiver.get("spec") or {}
    storage = (spec.get("backupStorage") or {}).get("ref") or {}
    backend: dict[str, Any] = {"name": "archiver", "storageRef": storage}
    if spec.get("retentionPolicy"):
        backend["retentionPolicy"] = spec["retentionPolicy"]
    full_repo, manifest_repo = repositories(meta["name"])
    sub_dir = (spec.get("backupStorage") or {}).get("subDir") or meta["namespace"]

    def session(name: str, part: dict[str, Any], repo: str, task: str) -> dict[str, Any]:
        scheduler = dict(part.get("scheduler") or {"schedule": "0 0 * * *"})
        scheduler.setdefault("jobTemplate", {})
        repository: dict[str, Any] = {
            "name": repo,
            "backend": "archiver",
            "directory": f"/{sub_dir}/{meta['name']}/{name}",
            "deletionPolicy": spec.get("deletionPolicy") or "Delete",
        }
        if spec.get("encryptionSecret"):
            repository["encryptionSecret"] = spec["encryptionSecret"]
        return {
            "name": name,
            "scheduler": scheduler,
            "repositories": [repository],
            "addon": {"name": ADDON[kind], "tasks": [{"name": task}]},
            "sessionHistoryLimit": int(part.get("sessionHistoryLimit") or 1),
        }

    full = spec.get("fullBackup") or {}
    return {
        "apiVersion": "core.kubestash.com/v1alpha1",
        "kind": "BackupConfiguration",
        "metadata": {
            "name": configuration_name(meta["name"]),
            "namespace": meta["namespace"],
            "ownerReferences": [status.owner(db)],
        },
        "spec": {
            "target": {
                "apiGroup": "kubedb.com",
                "kind": kind,
                "namespace": meta["namespace"],
                "name": meta["name"],
            },
            "backends": [backend],
            "sessions": [
                session("full-backup", full, full_repo, FULL_TASK[kind]),
                session(
                    "manifest-backup",
                    spec.get("manifestBackup") or full,
                    manifest_repo,
                    "manifest-backup",
                ),
            ],
            "paused": paused,
        },
    }


def refresh_archiver(ctl: StashController, archiver: dict[str, Any]) -> None:
    meta = archiver["metadata"]
    refs = sorted(
        (
            {"name": name, "namespace": namespace}
            for (namespace, name) in ctl.archived
            if _uses(ctl, namespace, name, archiver)
        ),
        key=lambda r: (r["namespace"], r["name"]),
    )
    plural = ARCHIVERS.get(archiver["kind"].removesuffix("Archiver"), "")
    rt = ctl.archiver_types.get(plural)
    if rt is not None:
        ctl.write_status(rt, meta["namespace"], meta["name"], {"databaseRefs": refs})


def _uses(ctl: StashController, namespace: str, name: str, archiver: dict[str, Any]) -> bool:
    kind = ctl.archived.get((namespace, name), ("", False))[0]
    rt = ctl.cluster.resources.by_kind("kubedb.com/v1", kind)
    db = ctl.cluster.find(rt, namespace, name) if rt is not None else None
    ref = (((db or {}).get("spec") or {}).get("archiver") or {}).get("ref") or {}
    return (ref.get("name"), ref.get("namespace") or namespace) == (
        archiver["metadata"]["name"],
        archiver["metadata"]["namespace"],
    )


def ship_logs(ctl: StashController) -> None:
    """Move every unpaused archived database's log range end to now (the sidekick's push)."""
    now = objects.timestamp(ctl.sim_now())
    for (namespace, name), (kind, paused) in list(ctl.archived.items()):
        if paused:
            continue
        full_repo = repositories(name)[0]
        if ctl.cluster.find(ctl.rt("repositories"), namespace, full_repo) is None:
            continue  # the archiver's configuration is not Ready yet
        snap_name = incremental_name(name)
        rt = ctl.rt("snapshots")
        snap = ctl.cluster.find(rt, namespace, snap_name)
        if snap is None:
            snap = _create_incremental(ctl, kind, namespace, name, now)
            if snap is None:
                continue
        old = snap.get("status") or {}
        wal = dict((old.get("components") or {}).get("wal") or {})
        stats = dict(wal.get("logStats") or {"start": now})
        stats["end"] = now
        wal.update({"phase": "Running", "driver": "WalG", "logStats": stats})
        ctl.write_status(
            rt,
            namespace,
            snap_name,
            {
                **old,
                "phase": "Running",
                "totalComponents": 1,
                "snapshotTime": stats["start"],
                "components": {"wal": wal},
            },
        )


def _create_incremental(
    ctl: StashController, kind: str, namespace: str, name: str, now: str
) -> dict[str, Any] | None:
    full_repo = repositories(name)[0]
    repo = ctl.cluster.find(ctl.rt("repositories"), namespace, full_repo)
    body: dict[str, Any] = {
        "apiVersion": ctl.rt("snapshots").api_version,
        "kind": "Snapshot",
        "metadata": {
            "name": incremental_name(name),
            "namespace": namespace,
            "labels": {
                backups.LABEL_KIND: kind,
                backups.LABEL_NAME: name,
                backups.LABEL_NAMESPACE: namespace,
                backups.LABEL_REPO: full_repo,
            },
            "finalizers": [backups.FINALIZER],
            "ownerReferences": [status.owner(repo)] if repo else [],
        },
        "spec": {
            "snapshotID": status.ulid(ctl.sim_now()),
            "type": "IncrementalBackup",
            "repository": full_repo,
            "session": "full-backup",
            "version": "v1",
            "appRef": {
                "apiGroup": "kubedb.com",
                "kind": kind,
                "namespace": namespace,
                "name": name,
            },
            "deletionPolicy": "Delete",
        },
    }
    with contextlib.suppress(errors.ApiError):
        ctl.cluster.create(ctl.rt("snapshots"), namespace, body, trusted=True)
    return ctl.cluster.find(ctl.rt("snapshots"), namespace, incremental_name(name))


def window(
    ctl: StashController, namespace: str, full_repository: str
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(earliest, latest) restorable time of an archive; None when nothing is restorable."""
    earliest: datetime.datetime | None = None
    latest: datetime.datetime | None = None
    for snap in backups.repository_snapshots(ctl, namespace, full_repository):
        snap_status = snap.get("status") or {}
        if (snap.get("spec") or {}).get("type") == "IncrementalBackup":
            end = (
                ((snap_status.get("components") or {}).get("wal") or {}).get("logStats") or {}
            ).get("end")
            if end:
                latest = objects.parse_timestamp(end)
        elif snap_status.get("phase") == "Succeeded" and snap_status.get("snapshotTime"):
            taken = objects.parse_timestamp(snap_status["snapshotTime"])
            earliest = taken if earliest is None else min(earliest, taken)
    if earliest is None or latest is None or latest < earliest:
        return None
    return earliest, latest


# -- recovery --------------------------------------------------------------------------


def reconcile_recovery(ctl: StashController, kind: str, db: dict[str, Any]) -> None:
    """A database created with spec.init.archiver: recover it, or say why not."""
    from services.sim.kubestash import restores  # restores calls this module: import late

    meta = db["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    if restores.restore_gate(db) is not restores.Gate.WAITING:
        return
    init = ((db.get("spec") or {}).get("init") or {}).get("archiver") or {}
    repo = init.get("fullDBRepository") or {}
    repo_ns = repo.get("namespace") or namespace
    try:
        target = objects.parse_timestamp(str(init.get("recoveryTimestamp")))
    except ValueError:
        target = None
    span = window(ctl, repo_ns, str(repo.get("name", "")))
    ref = f"{kind} {namespace}/{name}"
    if target is None or span is None or not span[0] <= target <= span[1]:
        shown = (
            f"[{objects.timestamp(span[0])}, {objects.timestamp(span[1])}]"
            if span
            else "empty (no Succeeded full backup and log range)"
        )
        restores.set_restore_conditions(
            ctl,
            kind,
            db,
            ok=False,
            reason="FailedToRestoreData",
            message=f"Failed to restore data of {ref}: recovery timestamp "
            f"{init.get('recoveryTimestamp')} is outside the archived window {shown}",
        )
        return
    if uid in ctl.recovering:
        return
    fault = ctl.faults.kubestash.take_restore(namespace, name)
    restores.set_restore_started(
        ctl, kind, db, by=f"archiver recovery from {repo_ns}/{repo.get('name')}"
    )
    ctl.recovering.add(uid)
    if fault is not None and fault.mode == "hang":
        return

    def finish() -> None:
        rt = ctl.cluster.resources.by_kind("kubedb.com/v1", kind)
        current = ctl.cluster.find(rt, namespace, name) if rt is not None else None
        if current is None or current["metadata"]["uid"] != uid:
            return
        failed = fault is not None and fault.mode == "fail"
        restores.set_restore_conditions(
            ctl,
            kind,
            current,
            ok=not failed,
            reason="FailedToRestoreData" if failed else "SuccessfullyDataRestored",
            message=f"Failed to restore data of {ref}: {fault.reason}"
            if failed and fault
            else f"Successfully restored data of {ref}",
        )

    ctl.tasks.later(f"recover:{uid}", ctl.step_delay, finish)
