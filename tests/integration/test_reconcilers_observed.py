"""status-sync's store: targeted status writes only when something changed, bulk snapshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.clients import postgres
from services.clients.postgres import Connection
from services.control import databases as control
from services.domain import snapshots
from services.domain.snapshots import ObservedStatus
from services.reconcilers.drift import compare
from services.store import databases, observed, operations
from tests.integration.reconciler_rows import created_database, new_database, principal_for


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    with postgres.connect(database_url, autocommit=True) as connection:
        yield connection


def ready_status(generation: int = 1) -> ObservedStatus:
    return ObservedStatus(
        phase="Ready",
        observed_spec={"replicas": 1, "version": "16.13"},
        observed_generation=generation,
        endpoint="orders.dbaas-acme.svc:5432",
        conditions=[{"type": "Ready", "status": "True"}],
        status_message=None,
        state="ready",
    )


def test_a_status_write_happens_once_and_a_repeat_writes_nothing(conn: Connection) -> None:
    record, _ = new_database(conn, principal_for(conn))
    assert observed.write_status(conn, record.id, ready_status())
    first = databases.get_by_id(conn, record.id)
    assert first is not None and first.synced_at is not None
    assert not observed.write_status(conn, record.id, ready_status())
    again = databases.get_by_id(conn, record.id)
    assert again is not None and again.synced_at == first.synced_at
    assert (again.phase, again.state, again.observed_generation) == ("Ready", "ready", 1)
    assert again.conditions == [{"type": "Ready", "status": "True"}]


def test_a_status_write_never_touches_the_desired_spec_or_generation(conn: Connection) -> None:
    record, _ = new_database(conn, principal_for(conn))
    observed.write_status(conn, record.id, ready_status(generation=7))
    after = databases.get_by_id(conn, record.id)
    assert after is not None
    assert after.desired() == record.desired()
    assert (after.generation, after.updated_at) == (record.generation, record.updated_at)


def test_a_deleted_database_is_never_written(conn: Connection) -> None:
    record, _ = new_database(conn, principal_for(conn))
    databases.set_state(conn, record.id, "deleted")
    assert not observed.write_status(conn, record.id, ready_status())


def test_snapshots_carry_namespace_open_operations_and_the_last_create(
    conn: Connection,
) -> None:
    principal = principal_for(conn)
    created = created_database(conn, principal, "orders")
    pending, _ = new_database(conn, principal, "fresh")
    control.restart_database(conn, principal, created.id)
    with conn.transaction():
        snaps = {s.record.name: s for s in observed.lock_snapshots(conn, [created.id, pending.id])}
    assert snaps["orders"].namespace == "dbaas-acme"
    assert (snaps["orders"].last_create, snaps["orders"].open_operations) == (
        "succeeded",
        ("restart",),
    )
    assert (snaps["fresh"].last_create, snaps["fresh"].open_operations) == ("pending", ("create",))


def test_live_databases_leaves_out_deleted_ones(conn: Connection) -> None:
    principal = principal_for(conn)
    keep = created_database(conn, principal, "keep")
    gone = created_database(conn, principal, "gone")
    databases.set_state(conn, gone.id, "deleted")
    assert [s.record.id for s in observed.live_databases(conn)] == [keep.id]
    assert observed.live_ids(conn, [keep.id, gone.id]) == {keep.id}


def test_results_count_as_recorded_only_once_finished_longer_than_the_retention(
    conn: Connection,
) -> None:
    principal = principal_for(conn)
    record = created_database(conn, principal)
    (create_op,) = [
        op
        for op in operations.list_page(conn, "acme", limit=10, after_seq=None)
        if op.database_id == record.id
    ]
    assert observed.recorded_long_ago(conn, [create_op.id], older_than_seconds=3600) == set()
    assert observed.recorded_long_ago(conn, [create_op.id], older_than_seconds=0) == {create_op.id}
    accepted = control.restart_database(conn, principal, record.id)
    (restart,) = accepted.operations
    assert observed.recorded_long_ago(conn, [restart.id], older_than_seconds=0) == set()


def test_a_drift_snapshot_holds_the_desired_side_of_the_whole_row_and_nothing_else(
    conn: Connection,
) -> None:
    principal = principal_for(conn)
    busy = created_database(conn, principal, "orders")
    control.restart_database(conn, principal, busy.id)
    observed.write_status(conn, busy.id, ready_status())
    created_database(conn, principal, "billing")  # no CR: a drift ("missing")
    light = observed.live_databases(conn)
    with conn.transaction():
        whole = observed.lock_snapshots(conn, [snap.record.id for snap in light])
    assert [snap.record.id for snap in whole] == [snap.record.id for snap in light]
    for snap, full in zip(light, whole, strict=True):
        assert snap.record == snapshots.DesiredRecord(
            **{field: getattr(full.record, field) for field in snapshots.DesiredRecord.__slots__}
        )
        assert snap.record.desired() == full.record.desired()
        assert (snap.namespace, snap.last_create, snap.open_operations) == (
            full.namespace,
            full.last_create,
            full.open_operations,
        )
        assert not hasattr(snap.record, "conditions")  # the observed status stays in the row
    from_light = compare.compare(light, [], project_of_namespace={})
    assert from_light == compare.compare(whole, [], project_of_namespace={})
    assert (from_light.checked, from_light.skipped, len(from_light.drifts)) == (2, 1, 1)
