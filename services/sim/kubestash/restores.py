"""Restores: RestoreSession phases, and the restore conditions KubeDB writes on the target.

RestoreSession (KUBESTASH-API.md §1.7, §4): Invalid (`ValidationPassed=False`) when the
Repository, the Snapshot (a name, `latest` = the newest Succeeded one, or `pitr.targetTime`
= the newest Succeeded at or before it), the Addon or its restore task is missing; Pending
while the target database does not exist; Running for one step; then Succeeded, or Failed /
hanging by fault.

KubeDB's restore initializer (§3), for a database that a RestoreSession targets: running ->
`DataRestoreStarted=True` (phase DataRestoring); Succeeded -> `DataRestored=True` (the
provisioner then makes it Ready); Failed/Unknown -> `DataRestored=False`,
FailedToRestoreData (phase NotReady); deleted before it finished -> `DataRestored=False`,
DataRestoreInterrupted. `restore_gate` is what the simulated provisioner asks before it
makes a database with `spec.init.waitForInitialRestore` Ready.
"""

from __future__ import annotations

import contextlib
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from services.sim import errors, objects
from services.sim.kubestash import archivers, backups, status

if TYPE_CHECKING:
    from services.sim.kubestash.controller import StashController

TERMINAL = ("Succeeded", "Failed", "Invalid", "Unknown")
COMPLETED = ("Succeeded", "Failed", "Unknown")  # KubeDB's isDataRestoreCompleted
STARTED = "DataRestoreStarted"
RESTORED = "DataRestored"
KUBEDB_GROUP = "kubedb.com"


class Gate(str, Enum):
    WAITING = "waiting"
    FAILED = "failed"
    DONE = "done"


def restore_gate(db: dict[str, Any]) -> Gate | None:
    """None for a database that waits for no restore; else where its restore stands."""
    init = (db.get("spec") or {}).get("init") or {}
    if not init.get("waitForInitialRestore") and not init.get("archiver"):
        return None
    for cond in (db.get("status") or {}).get("conditions") or []:
        if cond.get("type") == RESTORED:
            return Gate.DONE if cond.get("status") == "True" else Gate.FAILED
    return Gate.WAITING


def restore_conditions(db: dict[str, Any]) -> list[dict[str, Any]]:
    """The database's DataRestore* conditions (the provisioner keeps them when it writes)."""
    return [
        c
        for c in (db.get("status") or {}).get("conditions") or []
        if c.get("type") in (STARTED, RESTORED)
    ]


# -- RestoreSession --------------------------------------------------------------------


def reconcile_restore(ctl: StashController, namespace: str, name: str) -> None:
    rt = ctl.rt("restoresessions")
    restore = ctl.cluster.find(rt, namespace, name)
    if restore is None:
        return
    meta = restore["metadata"]
    spec = restore.get("spec") or {}
    phase = (restore.get("status") or {}).get("phase")
    target = spec.get("target") or {}
    if phase in TERMINAL:
        return
    if phase == "Running":
        if meta["uid"] not in ctl.hanging:
            _finish_later(ctl, namespace, name, meta["uid"])
        return
    now = ctl.wall_now()
    problems, snapshot = _validate(ctl, restore)
    if problems:
        ctl.write_status(
            rt,
            namespace,
            name,
            {
                "phase": "Invalid",
                "conditions": [
                    status.condition(
                        "ValidationPassed",
                        False,
                        "ResourceValidationFailed",
                        "; ".join(problems),
                        now=now,
                    )
                ],
            },
        )
        return
    db = ctl.find_target(target, namespace) if target else None
    base = {
        "totalComponents": 1,
        "dependencies": [
            {
                "kind": "Snapshot",
                "name": snapshot or "",
                "namespace": _source_ns(restore),
                "found": True,
            },
            {
                "apiGroup": "addons.kubestash.com",
                "kind": "Addon",
                "name": (spec.get("addon") or {}).get("name", ""),
                "found": True,
            },
        ],
    }
    validated = status.condition(
        "ValidationPassed", True, "ResourceValidationPassed", "Resource validation passed", now=now
    )
    if target and db is None:
        ctl.write_status(
            rt,
            namespace,
            name,
            {
                **base,
                "phase": "Pending",
                "targetFound": False,
                "conditions": [
                    validated,
                    status.condition(
                        "RestoreTargetFound",
                        False,
                        "UnableToFindRestoreTarget",
                        f"restore target {target.get('kind')} {target.get('name')} not found",
                        now=now,
                    ),
                ],
            },
        )
        return
    fault = ctl.faults.kubestash.take_restore(namespace, target.get("name", ""))
    new: dict[str, Any] = {
        **base,
        "phase": "Running",
        "targetFound": db is not None,
        "components": {backups.COMPONENT: {"phase": "Running"}},
        "conditions": [
            validated,
            status.condition(
                "RestoreTargetFound",
                True,
                "RestoreTargetFound",
                "Restore target has been found",
                now=now,
            ),
            status.condition(
                "RestoreExecutorEnsured",
                True,
                "SuccessfullyEnsuredRestoreExecutor",
                "Restore executor has been ensured successfully",
                now=now,
            ),
        ],
    }
    timeout = backups.period_seconds(str(spec.get("restoreTimeout") or ""))
    if timeout:
        new["restoreDeadline"] = objects.timestamp(ctl.wall() + datetime.timedelta(seconds=timeout))
    ctl.write_status(rt, namespace, name, new)
    uid = meta["uid"]
    if fault is not None:
        ctl.session_faults[uid] = fault.mode, fault.reason
        if fault.mode == "hang":
            ctl.hanging.add(uid)
            return
    _finish_later(ctl, namespace, name, uid)


def _finish_later(ctl: StashController, namespace: str, name: str, uid: str) -> None:
    ctl.tasks.later(f"restore:{uid}", ctl.step_delay, lambda: _finish(ctl, namespace, name, uid))


def _finish(ctl: StashController, namespace: str, name: str, uid: str) -> None:
    rt = ctl.rt("restoresessions")
    restore = ctl.cluster.find(rt, namespace, name)
    if restore is None or restore["metadata"]["uid"] != uid:
        return
    old = restore.get("status") or {}
    if old.get("phase") != "Running":
        return
    mode, reason = ctl.session_faults.pop(uid, (None, ""))
    failed = mode == "fail"
    component: dict[str, Any] = {"phase": "Failed" if failed else "Succeeded", "duration": "1s"}
    if failed:
        component["error"] = reason
    started = restore["metadata"].get("creationTimestamp")
    duration = (ctl.wall() - objects.parse_timestamp(started)).total_seconds() if started else 0.0
    ctl.write_status(
        rt,
        namespace,
        name,
        {
            **old,
            "phase": "Failed" if failed else "Succeeded",
            "duration": f"{duration:.3f}s",
            "components": {backups.COMPONENT: component},
            "conditions": status.merge_conditions(
                old.get("conditions"),
                [
                    status.condition(
                        "MetricsPushed",
                        True,
                        "SuccessfullyPushedMetrics",
                        "Metrics have been pushed successfully",
                        now=ctl.wall_now(),
                    )
                ],
            ),
        },
    )


def _source_ns(restore: dict[str, Any]) -> str:
    source = (restore.get("spec") or {}).get("dataSource") or {}
    return str(source.get("namespace") or restore["metadata"]["namespace"])


def _validate(ctl: StashController, restore: dict[str, Any]) -> tuple[list[str], str | None]:
    spec = restore.get("spec") or {}
    source = spec.get("dataSource") or {}
    namespace = _source_ns(restore)
    problems: list[str] = []
    repository = source.get("repository", "")
    if ctl.cluster.find(ctl.rt("repositories"), namespace, repository) is None:
        problems.append(f"Repository {namespace}/{repository} not found")
    snapshot = select_snapshot(ctl, namespace, repository, source)
    if snapshot is None:
        wanted = (
            source.get("snapshot") or f"at or before {(source.get('pitr') or {}).get('targetTime')}"
        )
        problems.append(f"no Succeeded Snapshot {wanted} in Repository {repository}")
    addon = spec.get("addon") or {}
    found = ctl.cluster.find(ctl.rt("addons"), None, addon.get("name", ""))
    if found is None:
        problems.append(f"Addon {addon.get('name')!r} not found")
    else:
        offered = {t.get("name") for t in (found.get("spec") or {}).get("restoreTasks") or []}
        problems += [
            f"Addon {addon.get('name')!r} has no restore task {t.get('name')!r}"
            for t in addon.get("tasks") or []
            if t.get("name") not in offered
        ]
    return problems, snapshot


def select_snapshot(
    ctl: StashController, namespace: str, repository: str, source: dict[str, Any]
) -> str | None:
    """The Snapshot a dataSource names: by name, `latest`, or the newest at/before pitr."""
    snapshots = [
        s
        for s in backups.repository_snapshots(ctl, namespace, repository)
        if (s.get("status") or {}).get("phase") == "Succeeded"
    ]
    wanted = source.get("snapshot")
    if wanted and wanted != "latest":
        return wanted if any(s["metadata"]["name"] == wanted for s in snapshots) else None
    pitr = source.get("pitr") or {}
    if not wanted and pitr.get("targetTime"):
        limit = objects.parse_timestamp(str(pitr["targetTime"]))
        exclusive = bool(pitr.get("exclusive"))
        snapshots = [
            s
            for s in snapshots
            if (
                (t := objects.parse_timestamp(s["status"]["snapshotTime"])) < limit
                or (t == limit and not exclusive)
            )
        ]
    elif not wanted:
        return None
    if not snapshots:
        return None
    newest = max(snapshots, key=lambda s: s["status"]["snapshotTime"])
    return str(newest["metadata"]["name"])


# -- the KubeDB restore initializer ----------------------------------------------------


def reconcile_database(ctl: StashController, kind: str, namespace: str, name: str) -> None:
    """Write DataRestoreStarted/DataRestored on a database from the RestoreSessions that
    target it; level-triggered, so a lost write is redone on the next event."""
    rt = ctl.cluster.resources.by_kind(f"{KUBEDB_GROUP}/v1", kind)
    if rt is None:
        return
    db = ctl.cluster.find(rt, namespace, name)
    if db is None or db["metadata"].get("deletionTimestamp"):
        return
    archivers.reconcile_archived(ctl, kind, db)
    old = db.get("status") or {}
    if not old.get("phase") or old.get("phase") == "Halted":
        return  # the provisioner has not started it yet: its first write would drop ours
    if ((db.get("spec") or {}).get("init") or {}).get("archiver"):
        archivers.reconcile_recovery(ctl, kind, db)
        return
    conditions = list(old.get("conditions") or [])
    found = (
        ctl.cluster.find(ctl.rt("restoresessions"), key[0], key[1])
        for key in ctl.restore_targets.keys((namespace, kind, name))
    )
    restores = sorted(
        (restore for restore in found if restore is not None),
        key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]),
    )
    now = ctl.wall_now()
    gen = int(db["metadata"].get("generation", 1))
    ref = f"{kind} {namespace}/{name}"
    has = {c.get("type"): c for c in conditions}
    if not restores:
        if STARTED in has and RESTORED not in has:
            wanted = _db_condition(
                RESTORED,
                False,
                "DataRestoreInterrupted",
                f"Data restore of {ref} was interrupted",
                now,
                gen,
            )
            _write(
                ctl, rt, db, [c for c in conditions if c.get("type") != STARTED], wanted, "NotReady"
            )
        return
    if restore_gate(db) is Gate.DONE:
        return  # the initial restore is over; later RestoreSessions leave it as it is
    phase = (restores[-1].get("status") or {}).get("phase")
    rest = [c for c in conditions if c.get("type") not in (STARTED, RESTORED)]
    if phase == "Succeeded":
        wanted = _db_condition(
            RESTORED,
            True,
            "SuccessfullyDataRestored",
            f"Successfully restored data of {ref}",
            now,
            gen,
        )
        _write(ctl, rt, db, rest, wanted, None)
    elif phase in ("Failed", "Unknown"):
        wanted = _db_condition(
            RESTORED, False, "FailedToRestoreData", f"Failed to restore data of {ref}", now, gen
        )
        _write(ctl, rt, db, rest, wanted, "NotReady")
    else:
        wanted = _db_condition(
            STARTED,
            True,
            "DataRestoreStartedByExternalInitializer",
            f"Data restore started by initializer {restores[-1]['metadata']['name']}",
            now,
            gen,
        )
        _write(ctl, rt, db, rest, wanted, "DataRestoring")


def _db_condition(
    kind: str, ok: bool, reason: str, message: str, now: str, gen: int
) -> dict[str, Any]:
    cond = status.condition(kind, ok, reason, message, now=now)
    cond["observedGeneration"] = gen
    return cond


def _write(
    ctl: StashController,
    rt: Any,
    db: dict[str, Any],
    rest: list[dict[str, Any]],
    wanted: dict[str, Any],
    phase: str | None,
) -> None:
    old = db.get("status") or {}
    before = {c.get("type"): c for c in old.get("conditions") or []}.get(wanted["type"])
    if before is not None and before.get("status") == wanted["status"]:
        wanted = {**wanted, "lastTransitionTime": before.get("lastTransitionTime")}
    new = {**old, "conditions": [*rest, wanted]}
    if phase is not None:
        new["phase"] = phase
    with contextlib.suppress(errors.ApiError):
        ctl.write_status(rt, db["metadata"]["namespace"], db["metadata"]["name"], new)


def set_restore_started(ctl: StashController, kind: str, db: dict[str, Any], *, by: str) -> None:
    """DataRestoreStarted=True, phase DataRestoring (a restore this sim runs itself)."""
    _set(
        ctl,
        kind,
        db,
        STARTED,
        True,
        "DataRestoreStartedByExternalInitializer",
        f"Data restore started by {by}",
        "DataRestoring",
    )


def set_restore_conditions(
    ctl: StashController, kind: str, db: dict[str, Any], *, ok: bool, reason: str, message: str
) -> None:
    """DataRestored=ok (and DataRestoreStarted gone); phase NotReady when it failed."""
    _set(ctl, kind, db, RESTORED, ok, reason, message, None if ok else "NotReady")


def _set(
    ctl: StashController,
    kind: str,
    db: dict[str, Any],
    kind_of_condition: str,
    ok: bool,
    reason: str,
    message: str,
    phase: str | None,
) -> None:
    rt = ctl.cluster.resources.by_kind(f"{KUBEDB_GROUP}/v1", kind)
    if rt is None:
        return
    rest = [
        c
        for c in (db.get("status") or {}).get("conditions") or []
        if c.get("type") not in (STARTED, RESTORED)
    ]
    gen = int(db["metadata"].get("generation", 1))
    wanted = _db_condition(kind_of_condition, ok, reason, message, ctl.wall_now(), gen)
    _write(ctl, rt, db, rest, wanted, phase)
