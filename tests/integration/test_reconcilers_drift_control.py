"""The drift use cases on real PostgreSQL: at most one correction per drift, reports once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.clients import postgres
from services.clients.postgres import Connection
from services.control import corrections
from services.control import databases as control
from services.reconcilers.drift import compare
from services.store import databases, events, observed, operations
from tests.integration.reconciler_rows import created_database, principal_for
from tests.reconcilers_support import cr_for


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    with postgres.connect(database_url, autocommit=True) as connection:
        yield connection


def drift_of(conn: Connection, **cr_changes: object) -> compare.Drift:
    """The drift a pass would find if the CR of the only database had these values."""
    (snap,) = observed.live_databases(conn)
    result = compare.compare(
        [snap], [cr_for(snap, **cr_changes)], project_of_namespace={"dbaas-acme": "acme"}
    )
    (found,) = result.drifts
    return found


def test_a_correction_creates_drift_operations_once(conn: Connection) -> None:
    record = created_database(conn, principal_for(conn), replicas=3)
    found = drift_of(conn, replicas=2)
    (op,) = corrections.correct_drift(conn, found)
    assert (op.type, op.origin, op.params, op.previous) == (
        "scale",
        "drift",
        {"replicas": 3},
        {"replicas": 2},
    )
    assert op.generation == record.generation
    assert corrections.correct_drift(conn, found) == []
    after = databases.get_by_id(conn, record.id)
    assert after is not None and after.state == "updating"
    (event,) = events.of_kind(conn, "drift.detected")
    assert event.operation_id == op.id and event.details["action"] == "correct"
    assert event.message == "drift: orders replicas 2→3; correcting"


def test_no_correction_when_the_database_changed_since_the_pass(conn: Connection) -> None:
    principal = principal_for(conn)
    record = created_database(conn, principal, replicas=3)
    found = drift_of(conn, replicas=2)
    control.restart_database(conn, principal, record.id)
    assert corrections.correct_drift(conn, found) == []
    assert [op.type for op in operations.open_for_database(conn, record.id)] == ["restart"]


def test_a_reported_drift_is_an_event_once_and_creates_no_operation(conn: Connection) -> None:
    record = created_database(conn, principal_for(conn), replicas=3, drift_policy="report")
    found = drift_of(conn, replicas=2)
    assert found.policy == "report"
    assert corrections.report_drift(conn, found)
    assert not corrections.report_drift(conn, found)
    (event,) = events.of_kind(conn, "drift.detected")
    assert (event.database_id, event.details["action"]) == (record.id, "report")
    assert operations.open_for_database(conn, record.id) == []


def test_an_orphan_is_reported_once_and_a_live_database_never_is(conn: Connection) -> None:
    record = created_database(conn, principal_for(conn))
    (snap,) = observed.live_databases(conn)
    databases.set_state(conn, record.id, "deleted")
    result = compare.compare([], [cr_for(snap)], project_of_namespace={"dbaas-acme": "acme"})
    (orphan,) = result.orphans
    assert corrections.report_orphan(conn, orphan)
    assert not corrections.report_orphan(conn, orphan)
    (event,) = events.of_kind(conn, "drift.orphan")
    assert event.details["name"] == "orders"
    databases.set_state(conn, record.id, "ready")
    fresh = compare.compare([], [cr_for(snap, replicas=2)], project_of_namespace={})
    assert not corrections.report_orphan(conn, fresh.orphans[0])
