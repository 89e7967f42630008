"""The drift decision for scheduled backups: each database's BackupConfiguration against its
`backup` policy, purely.

Input: the desired snapshots of a drift pass and a reading (`read_configuration`) of every
BackupConfiguration dbaas labelled (one paginated list). What is compared is what the
policy decides in the cluster, and what a person is likely to edit by hand:
- a policy and no BackupConfiguration: nothing is backed up on schedule;
- a policy and the session's schedule differs, or it is suspended (or the whole
  configuration paused): the backups do not run when the user asked for them;
- no policy (null) and a configuration whose schedule runs: backups the user turned off.
A configuration that is absent while there is no policy is how it should be.

Skipped as the KubeDB CR comparison skips them (`compare._skip`): databases with an open
operation (a `backup_policy` change in flight, a create), not yet created, failed or being
deleted. The correction is one `backup_policy` operation that applies the recorded policy
again (params = the policy and the BackupStorage; previous = the same policy, so a failed
correction never rolls the user's field back); without a known BackupStorage (no setting,
no configuration to read it from) the drift can only be reported. Each finding has a
fingerprint (database, fields, values) so the same drift is corrected or reported once.
No I/O here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.domain import backup_manifests, manifests
from services.domain.backups import BackupPolicy
from services.domain.engines import Engine
from services.domain.findings import Correction, Drift, FieldDrift
from services.domain.planning import OperationType
from services.domain.records import OperationState
from services.domain.snapshots import DatabaseSnapshot, DesiredSnapshot

Snapshot = DesiredSnapshot | DatabaseSnapshot
SKIPPED_STATES = frozenset({"deleting", "deleted", "failed"})


@dataclasses.dataclass(frozen=True)
class ObservedConfiguration:
    """What drift compares of one BackupConfiguration."""

    namespace: str
    name: str
    database_id: uuid.UUID | None
    schedule: str | None
    suspended: bool
    storage: str | None
    """The BackupStorage its backend names (`namespace/name`), to correct it with."""
    terminating: bool


def read_configuration(obj: Mapping[str, Any]) -> ObservedConfiguration | None:
    """The reading of a listed BackupConfiguration; None for one that is not readable."""
    meta = obj.get("metadata") or {}
    if not meta.get("name") or not meta.get("namespace"):
        return None
    labels = meta.get("labels") or {}
    try:
        database_id: uuid.UUID | None = uuid.UUID(str(labels.get(manifests.LABEL_DATABASE_ID)))
    except ValueError:
        database_id = None
    spec = obj.get("spec") or {}
    session = next(
        (
            s
            for s in spec.get("sessions") or []
            if isinstance(s, Mapping) and s.get("name") == backup_manifests.SESSION
        ),
        None,
    )
    scheduler = (session or {}).get("scheduler") or {}
    backend = next(iter(spec.get("backends") or []), None) or {}
    ref = backend.get("storageRef") or {}
    storage = (
        f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") and ref.get("name") else None
    )
    return ObservedConfiguration(
        namespace=str(meta["namespace"]),
        name=str(meta["name"]),
        database_id=database_id,
        schedule=None if session is None else str(scheduler.get("schedule") or ""),
        suspended=bool(scheduler.get("suspend")) or bool(spec.get("paused")) or session is None,
        storage=storage,
        terminating=bool(meta.get("deletionTimestamp")),
    )


def compare_backups(
    desired: Sequence[Snapshot],
    configurations: Iterable[ObservedConfiguration],
    *,
    storage: str | None,
) -> list[Drift]:
    """Every database whose BackupConfiguration does not do what its policy says, in the
    order of `desired`. `storage`: the server's BackupStorage setting (None: unset)."""
    by_key = {(c.namespace, c.name): c for c in configurations}
    found: list[Drift] = []
    for snapshot in desired:
        if _skip(snapshot):
            continue
        record = snapshot.record
        names = backup_manifests.BackupNames(
            record.name, record.id, snapshot.namespace, Engine(record.engine)
        )
        seen = by_key.get((snapshot.namespace, names.backup_configuration))
        if seen is not None and (seen.terminating or seen.database_id != record.id):
            continue  # going away, or someone else's under our name: the worker says so
        policy = BackupPolicy.from_public(record.backup)
        fields = _differences(policy, seen)
        if fields:
            found.append(_drift(snapshot, policy, fields, seen, storage))
    return found


def _skip(snapshot: Snapshot) -> bool:
    return (
        bool(snapshot.open_operations)
        or snapshot.last_create != OperationState.SUCCEEDED
        or snapshot.record.state in SKIPPED_STATES
    )


def _differences(
    policy: BackupPolicy | None, seen: ObservedConfiguration | None
) -> tuple[FieldDrift, ...]:
    if policy is None:
        if seen is not None and not seen.suspended:
            return (FieldDrift("backup.suspended", True, False),)
        return ()
    if seen is None:
        return (FieldDrift("backup.configuration", "present", "missing"),)
    fields = []
    if seen.schedule != policy.schedule:
        fields.append(FieldDrift("backup.schedule", policy.schedule, seen.schedule))
    if seen.suspended:
        fields.append(FieldDrift("backup.suspended", False, True))
    return tuple(fields)


def _drift(
    snapshot: Snapshot,
    policy: BackupPolicy | None,
    fields: tuple[FieldDrift, ...],
    seen: ObservedConfiguration | None,
    storage: str | None,
) -> Drift:
    record = snapshot.record
    public = None if policy is None else policy.public()
    target = (seen.storage if seen is not None else None) or storage
    corrections: tuple[Correction, ...] = ()
    if target is not None or policy is None:
        params: dict[str, Any] = {"backup": public}
        if target is not None:
            params["storage"] = target
        corrections = (Correction(OperationType.BACKUP_POLICY, params, {"backup": public}),)
    parts = [
        str(record.id),
        "backup",
        *(f"{f.field}={f.desired!r}<-{f.observed!r}" for f in fields),
    ]
    return Drift(
        database_id=record.id,
        project_id=record.project_id,
        name=record.name,
        generation=record.generation,
        policy=record.drift_policy,
        missing=False,
        fields=fields,
        corrections=corrections,
        fingerprint=hashlib.sha256("|".join(parts).encode()).hexdigest()[:24],
    )
