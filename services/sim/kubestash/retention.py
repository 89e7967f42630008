"""Retention and session history, after each BackupSession (KUBESTASH-API.md §5.3).

Older than maxRetentionPeriod goes; of the rest, successfulSnapshots' keep rules (last,
hourly, daily, weekly, monthly, yearly, restic-style: newest per bucket) keep, and
`failedSnapshots.last` failed ones stay. Completed BackupSessions beyond a session's
`sessionHistoryLimit` are deleted.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from services.sim import errors, objects
from services.sim.kubestash import backups

_BUCKETS = {
    "hourly": "%Y%m%d%H",
    "daily": "%Y%m%d",
    "weekly": "%G%V",
    "monthly": "%Y%m",
    "yearly": "%Y",
}

if TYPE_CHECKING:
    from services.sim.kubestash.controller import StashController


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
            for s in backups.repository_snapshots(ctl, namespace, repository)
            # An archive's continuous log snapshot is KubeDB's to prune (logBackup), not ours.
            if (s.get("spec") or {}).get("type") != "IncrementalBackup"
        ),
        key=_newest_first,
        reverse=True,
    )
    doomed: list[str] = []
    max_age = backups.period_seconds(str(spec.get("maxRetentionPeriod") or ""))
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


def _newest_first(snapshot: dict[str, Any]) -> tuple[str, int]:
    """snapshotTime has one-second resolution: of two Snapshots of one second, the one
    written last (the higher resourceVersion) is the newer, as etcd's order says."""
    version = str((snapshot.get("metadata") or {}).get("resourceVersion") or "0")
    return (snapshot.get("status") or {}).get("snapshotTime", ""), int(
        version
    ) if version.isdigit() else 0


def clean_history(ctl: StashController, bc: dict[str, Any], session_name: str) -> None:
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
                lambda o: (
                    backups.invoker_of(o) == key
                    and (o.get("status") or {}).get("phase") in backups.TERMINAL
                ),
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
