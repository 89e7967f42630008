"""The drift decision: compare the desired side (PostgreSQL) with the cluster, purely.

Input: a snapshot of every live database (one SQL query) and a reading
(`cr_readings.ObservedDatabase`) of every database CR dbaas manages (paginated lists, one per
kind). Output: what differs, and what would correct it.

- Skipped: databases with an open operation (the cluster is expected to differ while it
  runs), not yet created (no succeeded `create`), failed, or being deleted; CRs being
  deleted (deletionTimestamp set).
- Missing: the CR of a created database is absent -> a `create` operation re-creates it.
- Spec drift, one finding per field (KUBEDB-API.md §1.2): deletion policy -> `configure`;
  storage -> `expand` when desired is larger (KubeDB cannot shrink a volume, so a CR grown
  behind our back is reported, never "corrected"); cpu/memory -> `resize` (a desired None
  is KubeDB's default and matches anything); replicas -> `scale`; version -> `upgrade`.
  Corrections carry params = the desired values and previous = the observed ones, in the
  order `planning` uses (policy, expand, resize, scale, upgrade).
- Orphans: CRs labelled as ours whose database id has no live row, or at a database's
  namespace/name but of another kind; reported, never deleted.

Each finding has a fingerprint (database, fields, desired and observed values) so that the
same drift is reported or corrected once, however many passes see it. No I/O here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from services.domain import lifecycle, quantities, snapshots
from services.domain.findings import Correction, Drift, FieldDrift, Orphan
from services.domain.planning import OperationType
from services.domain.records import OperationState
from services.domain.snapshots import DatabaseSnapshot, DesiredSnapshot
from services.reconcilers import cr_readings

Snapshot = DesiredSnapshot | DatabaseSnapshot
"""A live database as a drift pass reads it (`observed.live_databases`), or its whole row."""

SKIPPED_STATES = frozenset({"deleting", "deleted", "failed"})
CORRECTION_ORDER = ("configure", "expand", "resize", "scale", "upgrade")


@dataclasses.dataclass(frozen=True)
class Comparison:
    checked: int
    skipped: int
    drifts: tuple[Drift, ...]
    orphans: tuple[Orphan, ...]


def compare(
    desired: Sequence[Snapshot],
    crs: Iterable[cr_readings.ObservedDatabase | Mapping[str, Any]],
    *,
    project_of_namespace: Mapping[str, str],
) -> Comparison:
    """Every drift and orphan between the desired snapshot and the listed CRs (readings,
    or CRs as listed: those are read here; a CR of no kind we manage is ignored)."""
    comparer = Comparer(desired, project_of_namespace=project_of_namespace)
    for cr in crs:
        comparer.add(cr)
    return comparer.result()


class Comparer:
    """`compare`, one CR at a time: a CR is judged as it is read and not kept, so a drift
    pass holds the desired side and one page of the cluster, never a reading of every CR.

    A CR is its database's own when it carries the database's id and sits at the database's
    namespace/name with its engine's kind; any other CR is an orphan (unless terminating).
    The databases no CR claimed are judged as missing in `result`. Findings come out in
    the order of `desired`, whatever order the CRs arrive in."""

    def __init__(
        self, desired: Sequence[Snapshot], *, project_of_namespace: Mapping[str, str]
    ) -> None:
        self._unclaimed = {snapshot.record.id: (i, snapshot) for i, snapshot in enumerate(desired)}
        self._project_of_namespace = project_of_namespace
        self._checked = len(desired)
        self._skipped = 0
        self._drifts: list[tuple[int, Drift]] = []
        self._orphans: list[Orphan] = []

    def add(self, cr: cr_readings.ObservedDatabase | Mapping[str, Any]) -> None:
        seen = cr_readings.observe_database(cr)
        if seen is None:
            return
        claimant = self._unclaimed.get(seen.database_id) if seen.database_id else None
        if claimant is not None and _is_own(claimant[1], seen):
            del self._unclaimed[claimant[1].record.id]
            self._judge(*claimant, seen)
        elif not seen.terminating:
            self._orphans.append(_orphan(seen, self._project_of_namespace))

    def result(self, *, gone: Collection[uuid.UUID] | None = None) -> Comparison:
        """The comparison, once every CR was added (the unclaimed databases judged now, as
        missing). `gone`: judge only these unclaimed databases, whose CRs are known to be
        deleted (a check of the CRs the watch stream showed, not of the whole cluster)."""
        for database_id, (index, snapshot) in self._unclaimed.items():
            if gone is None or database_id in gone:
                self._judge(index, snapshot, None)
        self._unclaimed.clear()
        return Comparison(
            checked=self._checked,
            skipped=self._skipped,
            drifts=tuple(drift for _, drift in sorted(self._drifts, key=lambda d: d[0])),
            orphans=tuple(self._orphans),
        )

    def _judge(
        self, index: int, snapshot: Snapshot, cr: cr_readings.ObservedDatabase | None
    ) -> None:
        if _skip(snapshot, cr):
            self._skipped += 1
            return
        drift = _drift(snapshot, cr)
        if drift is not None:
            self._drifts.append((index, drift))


def _is_own(snapshot: Snapshot, cr: cr_readings.ObservedDatabase) -> bool:
    """The CR of the database's kind at its own namespace/name; others with its label are
    orphans."""
    record = snapshot.record
    return (cr.namespace, cr.name, cr.engine) == (snapshot.namespace, record.name, record.engine)


def _skip(snapshot: Snapshot, cr: cr_readings.ObservedDatabase | None) -> bool:
    return (
        bool(snapshot.open_operations)
        or snapshot.last_create != OperationState.SUCCEEDED
        or snapshot.record.state in SKIPPED_STATES
        or (cr is not None and cr.terminating)
    )


def _drift(snapshot: Snapshot, cr: cr_readings.ObservedDatabase | None) -> Drift | None:
    record = snapshot.record
    if cr is None:
        return Drift(
            database_id=record.id,
            project_id=record.project_id,
            name=record.name,
            generation=record.generation,
            policy=record.drift_policy,
            missing=True,
            fields=(),
            corrections=(Correction(OperationType.CREATE, record.desired(), {}),),
            fingerprint=_fingerprint(str(record.id), "missing", str(record.generation)),
        )
    observed_spec = cr.spec
    differences = lifecycle.spec_differences(snapshots.desired_view(snapshot), observed_spec)
    if not differences:
        return None
    fields = tuple(
        FieldDrift(field, want, have) for field, (want, have) in sorted(differences.items())
    )
    return Drift(
        database_id=record.id,
        project_id=record.project_id,
        name=record.name,
        generation=record.generation,
        policy=record.drift_policy,
        missing=False,
        fields=fields,
        corrections=_corrections(snapshot, differences, observed_spec),
        fingerprint=_fingerprint(
            str(record.id), *(f"{f.field}={f.desired!r}<-{f.observed!r}" for f in fields)
        ),
    )


def _corrections(
    snapshot: Snapshot,
    differences: Mapping[str, tuple[Any, Any]],
    observed: Mapping[str, Any],
) -> tuple[Correction, ...]:
    record = snapshot.record
    found: dict[str, Correction] = {}
    if "deletion_policy" in differences:
        found["configure"] = Correction(
            OperationType.CONFIGURE,
            {"deletion_policy": record.deletion_policy},
            {"deletion_policy": observed.get("deletion_policy")},
        )
    if "storage" in differences and _grows(record.storage, observed.get("storage")):
        found["expand"] = Correction(
            OperationType.EXPAND, {"storage": record.storage}, {"storage": observed.get("storage")}
        )
    if "cpu" in differences or "memory" in differences:
        found["resize"] = Correction(
            OperationType.RESIZE,
            {"cpu": record.cpu, "memory": record.memory},
            {"cpu": observed.get("cpu"), "memory": observed.get("memory")},
        )
    if "replicas" in differences:
        found["scale"] = Correction(
            OperationType.SCALE,
            {"replicas": record.replicas},
            {"replicas": observed.get("replicas")},
        )
    if "version" in differences:
        found["upgrade"] = Correction(
            OperationType.UPGRADE, {"version": record.version}, {"version": observed.get("version")}
        )
    return tuple(found[kind] for kind in CORRECTION_ORDER if kind in found)


def _grows(desired: str, observed: object) -> bool:
    """Desired storage is larger than the observed (or the observed is unreadable)."""
    if not isinstance(observed, str):
        return True
    try:
        return quantities.compare_quantities(desired, observed) > 0
    except quantities.InvalidQuantity:
        return False


def _orphan(cr: cr_readings.ObservedDatabase, project_of_namespace: Mapping[str, str]) -> Orphan:
    project = project_of_namespace.get(cr.namespace) or cr.project
    return Orphan(
        namespace=cr.namespace,
        name=cr.name,
        kind=cr.kind,
        database_id=cr.database_id,
        project_id=project,
        fingerprint=_fingerprint("orphan", cr.kind, cr.namespace, cr.name, cr.uid),
    )


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
