"""Use cases of the drift reconciler: correct a drift, or report it, in one transaction each.

Correcting creates the operations (origin `drift`) that bring the cluster back to the
desired spec, with a `drift.detected` event naming them. At most one correction per drift:
under the database row's lock it re-checks that the database has no open operation and
that its generation is the one the drift was computed against; so a second pass, a second
drift instance or an API change in between creates nothing. Reporting records a
`drift.detected` (or `drift.orphan`) event once per fingerprint. Callers enqueue the
returned operations after the commit. Nothing here talks to Kubernetes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.clients.postgres import Connection
from services.domain.findings import Drift, Orphan
from services.domain.records import OperationRecord
from services.store import databases, events, observed, operations

ACTOR = "drift"
DRIFT_DETECTED = "drift.detected"
DRIFT_ORPHAN = "drift.orphan"


def correct_drift(conn: Connection, drift: Drift) -> list[OperationRecord]:
    """Record the corrective operations; [] when the database moved on since the pass."""
    with conn.transaction():
        record = databases.get(conn, drift.project_id, drift.database_id, for_update=True)
        if (
            not drift.corrections
            or record is None
            or record.drift_policy != "correct"
            or record.state in ("deleting", "deleted")
            or record.generation != drift.generation
            or operations.open_for_database(conn, drift.database_id)
        ):
            return []
        created = [
            operations.insert(
                conn,
                database_id=record.id,
                project_id=record.project_id,
                type=correction.type,
                generation=record.generation,
                params=correction.params,
                previous=correction.previous,
                origin="drift",
                requested_by=ACTOR,
            )
            for correction in drift.corrections
        ]
        databases.set_state(conn, record.id, "creating" if drift.missing else "updating")
        events.record(
            conn,
            project_id=record.project_id,
            database_id=record.id,
            operation_id=created[0].id if created else None,
            actor=ACTOR,
            kind=DRIFT_DETECTED,
            message=f"drift: {drift.describe()}; correcting",
            details=_details(drift, action="correct", operations=created),
        )
    return created


def report_drift(conn: Connection, drift: Drift) -> bool:
    """Record the drift as an event only; False when this drift was already reported."""
    with conn.transaction():
        if observed.reported_fingerprints(conn, [drift.fingerprint]):
            return False
        events.record(
            conn,
            project_id=drift.project_id,
            database_id=drift.database_id,
            actor=ACTOR,
            kind=DRIFT_DETECTED,
            message=f"drift: {drift.describe()}; reported only",
            details=_details(drift, action="report", operations=[]),
        )
    return True


def report_orphan(conn: Connection, orphan: Orphan) -> bool:
    """Record a CR labelled as ours that no live database owns; never deletes it."""
    if orphan.project_id is None:
        return False  # no project to file the event under; the outcome line still says it
    with conn.transaction():
        if observed.reported_fingerprints(conn, [orphan.fingerprint]):
            return False
        if orphan.database_id is not None and observed.live_ids(conn, [orphan.database_id]):
            return False  # created after the pass read PostgreSQL: not an orphan
        if not observed.project_exists(conn, orphan.project_id):
            return False
        events.record(
            conn,
            project_id=orphan.project_id,
            actor=ACTOR,
            kind=DRIFT_ORPHAN,
            message=f"orphan: {orphan.describe()} has no database; left in place",
            details={
                "fingerprint": orphan.fingerprint,
                "kind": orphan.kind,
                "namespace": orphan.namespace,
                "name": orphan.name,
                "database_id": str(orphan.database_id) if orphan.database_id else None,
            },
        )
    return True


def _details(drift: Drift, *, action: str, operations: list[OperationRecord]) -> dict[str, Any]:
    return {
        "fingerprint": drift.fingerprint,
        "action": action,
        "missing": drift.missing,
        "fields": [dataclasses.asdict(field) for field in drift.fields],
        "operations": [str(op.id) for op in operations],
    }
