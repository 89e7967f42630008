"""The `backups` table and its store on a real, migrated PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.types.json import Jsonb

from services.clients import postgres
from services.clients.postgres import Connection
from services.domain import backup_manifests
from services.domain.backups import BackupOrigin, BackupPolicy, BackupState
from services.domain.engines import Engine
from services.store import backups, databases, operations, projects

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    with postgres.connect(database_url, autocommit=True) as connection:
        yield connection


def new_database(conn: Connection, project: str = "team-a", name: str = "orders") -> uuid.UUID:
    projects.ensure(conn, project)
    record = databases.insert(
        conn,
        database_id=uuid.uuid4(),
        project_id=project,
        name=name,
        engine="postgres",
        desired={
            "version": "16.4",
            "replicas": 1,
            "storage": "1Gi",
            "deletion_policy": "Delete",
            "drift_policy": "correct",
        },
    )
    return record.id


def session_name(database_id: uuid.UUID, operation_id: uuid.UUID) -> str:
    names = backup_manifests.BackupNames("orders", database_id, "dbaas-team-a", Engine.POSTGRES)
    return names.backup_session(operation_id)


def test_a_manual_backup_is_one_row_from_request_to_observed_success(conn: Connection) -> None:
    db = new_database(conn)
    op = operations.insert(conn, database_id=db, project_id="team-a", type="backup", generation=1)
    name = session_name(db, op.id)
    pending = backups.insert_manual(
        conn,
        backup_id=uuid.uuid4(),
        project_id="team-a",
        database_id=db,
        operation_id=op.id,
        backup_session=name,
    )
    assert (pending.origin, pending.state) == (BackupOrigin.MANUAL, BackupState.PENDING)

    running, new = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session=name,
        state=BackupState.RUNNING,
        started_at=T0,
        snapshot="orders-repo-x",
    )
    assert not new and running.id == pending.id and running.state is BackupState.RUNNING
    done, new = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session=name,
        state=BackupState.SUCCEEDED,
        size_bytes=12 * 2**20,
        completed_at=T0 + dt.timedelta(minutes=3),
    )
    assert not new and done.id == pending.id
    assert done.origin is BackupOrigin.MANUAL and done.operation_id == op.id
    assert done.snapshot == "orders-repo-x"  # kept from the earlier observation
    assert (done.started_at, done.completed_at) == (T0, T0 + dt.timedelta(minutes=3))
    assert done.size_bytes == 12 * 2**20
    assert backups.get(conn, "team-a", pending.id) == done
    assert backups.get(conn, "other", pending.id) is None


def test_replayed_observations_make_one_row_and_never_reopen_a_finished_backup(
    conn: Connection,
) -> None:
    db = new_database(conn)
    first, new = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session="bc-logical-1",
        state=BackupState.FAILED,
        error="Snapshot failed",
        completed_at=T0,
    )
    assert new and first.origin is BackupOrigin.SCHEDULE
    again, new = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session="bc-logical-1",
        state=BackupState.RUNNING,
    )
    assert not new and again.state is BackupState.FAILED and again.error == "Snapshot failed"
    # A Snapshot that succeeded counts even when its BackupSession failed.
    healed, _ = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session="bc-logical-1",
        state=BackupState.SUCCEEDED,
        snapshot="s1",
        size_bytes=1,
    )
    assert healed.state is BackupState.SUCCEEDED and healed.error is None
    assert healed.completed_at == T0
    count = conn.execute("SELECT count(*) AS n FROM backups").fetchone()
    assert count is not None and count["n"] == 1
    with pytest.raises(ValueError, match="negative"):
        backups.observe(
            conn,
            project_id="team-a",
            database_id=db,
            backup_session="x",
            state=BackupState.RUNNING,
            size_bytes=-1,
        )


def test_pages_are_newest_first_filtered_and_keyed_by_cursor(conn: Connection) -> None:
    orders, users = new_database(conn), new_database(conn, name="users")
    made = []
    for i in range(5):
        db = orders if i % 2 == 0 else users
        record, _ = backups.observe(
            conn,
            project_id="team-a",
            database_id=db,
            backup_session=f"s-{i}",
            state=BackupState.SUCCEEDED if i != 3 else BackupState.FAILED,
        )
        made.append(record)
    newest_first = sorted(made, key=lambda r: r.cursor, reverse=True)
    first = backups.page(conn, "team-a", limit=2)
    second = backups.page(conn, "team-a", limit=2, before=first[-1].cursor)
    third = backups.page(conn, "team-a", limit=2, before=second[-1].cursor)
    assert [r.id for r in first + second + third] == [r.id for r in newest_first]
    assert {r.database_id for r in backups.page(conn, "team-a", database_id=orders)} == {orders}
    assert [r.backup_session for r in backups.page(conn, "team-a", state=BackupState.FAILED)] == [
        "s-3"
    ]
    assert backups.page(conn, "team-b") == []
    with pytest.raises(ValueError, match="limit"):
        backups.page(conn, "team-a", limit=0)


def test_a_deleted_snapshot_leaves_the_listings_and_a_deleted_database_does_not(
    conn: Connection,
) -> None:
    db = new_database(conn)
    kept, _ = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session="a",
        state=BackupState.SUCCEEDED,
        snapshot="snap-a",
    )
    pruned, _ = backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session="b",
        state=BackupState.SUCCEEDED,
        snapshot="snap-b",
    )
    assert backups.mark_snapshots_deleted(conn, ["snap-b"]) == 1
    assert backups.mark_snapshots_deleted(conn, ["snap-b"]) == 0
    conn.execute("UPDATE databases SET state = 'deleted', deleted_at = now() WHERE id = %s", (db,))
    listed = backups.page(conn, "team-a")
    assert [r.id for r in listed] == [kept.id]
    assert backups.get(conn, "team-a", pruned.id) is not None  # still readable by id


def test_open_backups_of_a_database(conn: Connection) -> None:
    db = new_database(conn)
    backups.observe(
        conn,
        project_id="team-a",
        database_id=db,
        backup_session="done",
        state=BackupState.SUCCEEDED,
    )
    running, _ = backups.observe(
        conn, project_id="team-a", database_id=db, backup_session="now", state=BackupState.RUNNING
    )
    assert [r.id for r in backups.open_for_database(conn, db)] == [running.id]


def test_the_schema_refuses_inconsistent_rows(conn: Connection) -> None:
    db = new_database(conn)
    bad = [
        # a manual backup needs its operation
        "INSERT INTO backups (id, project_id, database_id, origin) VALUES (%s, 'team-a', %s,"
        " 'manual')",
        "INSERT INTO backups (id, project_id, database_id, origin, state) VALUES (%s,"
        " 'team-a', %s, 'schedule', 'done')",
        "INSERT INTO backups (id, project_id, database_id, origin, completed_at) VALUES (%s,"
        " 'team-a', %s, 'schedule', now())",
        "INSERT INTO backups (id, project_id, database_id, origin, size_bytes) VALUES (%s,"
        " 'team-a', %s, 'schedule', -1)",
    ]
    for statement in bad:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(statement, (uuid.uuid4(), db))


def test_databases_hold_a_backup_policy_and_operations_take_backup_and_restore(
    conn: Connection,
) -> None:
    db = new_database(conn)
    policy = BackupPolicy("0 2 * * *")
    conn.execute("UPDATE databases SET backup = %s WHERE id = %s", (Jsonb(policy.public()), db))
    row = conn.execute("SELECT backup FROM databases WHERE id = %s", (db,)).fetchone()
    assert row is not None and BackupPolicy.from_public(row["backup"]) == policy
    for kind in ("backup", "restore"):
        op = operations.insert(conn, database_id=db, project_id="team-a", type=kind, generation=1)
        assert op.type == kind
    with pytest.raises(psycopg.errors.CheckViolation):
        operations.insert(conn, database_id=db, project_id="team-a", type="snapshot", generation=1)


def test_after_a_full_list_finished_backups_whose_snapshot_is_missing_are_marked(
    conn: Connection,
) -> None:
    db = new_database(conn)
    rows = {}
    for session, state, snapshot in [
        ("kept", BackupState.SUCCEEDED, "snap-kept"),
        ("lost", BackupState.SUCCEEDED, "snap-lost"),
        ("running", BackupState.RUNNING, "snap-running"),
        ("none", BackupState.FAILED, None),
    ]:
        rows[session], _ = backups.observe(
            conn,
            project_id="team-a",
            database_id=db,
            backup_session=session,
            state=state,
            snapshot=snapshot,
        )
    assert backups.mark_missing_snapshots_deleted(conn, frozenset({"snap-kept"})) == 1
    assert backups.mark_missing_snapshots_deleted(conn, frozenset({"snap-kept"})) == 0
    listed = {r.backup_session for r in backups.page(conn, "team-a")}
    assert listed == {"kept", "running", "none"}
