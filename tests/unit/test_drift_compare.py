"""The drift decision: desired snapshots against listed CRs, purely."""

from __future__ import annotations

import uuid

from services.domain import manifests
from services.reconcilers import cr_readings
from services.reconcilers.drift import compare
from tests.reconcilers_support import cr_for, record, snapshot

NAMESPACES = {"dbaas-acme": "acme"}


def test_a_database_whose_cr_matches_has_no_drift() -> None:
    snap = snapshot()
    result = compare.compare([snap], [cr_for(snap)], project_of_namespace=NAMESPACES)
    assert (result.checked, result.skipped, result.drifts, result.orphans) == (1, 0, (), ())


def test_replicas_edited_out_of_band_becomes_a_scale_back_to_desired() -> None:
    snap = snapshot()
    result = compare.compare([snap], [cr_for(snap, replicas=2)], project_of_namespace=NAMESPACES)
    (drift,) = result.drifts
    assert drift.describe() == "orders replicas 2→3"
    (correction,) = drift.corrections
    assert (correction.type, correction.params, correction.previous) == (
        "scale",
        {"replicas": 3},
        {"replicas": 2},
    )


def test_several_fields_give_corrections_in_plan_order() -> None:
    snap = snapshot(record(cpu="1", memory="2Gi"))
    cr = cr_for(snap, replicas=2, version="16.1", deletion_policy="WipeOut", storage="5Gi", cpu="2")
    (drift,) = compare.compare([snap], [cr], project_of_namespace=NAMESPACES).drifts
    assert [c.type for c in drift.corrections] == [
        "configure",
        "expand",
        "resize",
        "scale",
        "upgrade",
    ]
    resize = drift.corrections[2]
    assert resize.params == {"cpu": "1", "memory": "2Gi"}
    assert resize.previous == {"cpu": "2", "memory": "2Gi"}


def test_storage_grown_behind_our_back_is_reported_never_shrunk() -> None:
    snap = snapshot()
    (drift,) = compare.compare(
        [snap], [cr_for(snap, storage="20Gi")], project_of_namespace=NAMESPACES
    ).drifts
    assert [f.field for f in drift.fields] == ["storage"]
    assert drift.corrections == ()


def test_a_missing_cr_of_a_created_database_is_recreated() -> None:
    snap = snapshot()
    (drift,) = compare.compare([snap], [], project_of_namespace=NAMESPACES).drifts
    assert drift.missing
    (correction,) = drift.corrections
    assert correction.type == "create"
    assert correction.params == snap.record.desired()


def test_databases_with_open_operations_or_not_yet_created_are_skipped() -> None:
    busy = snapshot(open_operations=("scale",))
    new = snapshot(record(name="fresh"), last_create="waiting")
    failed = snapshot(record(name="broken", state="failed"), last_create="failed")
    result = compare.compare([busy, new, failed], [], project_of_namespace=NAMESPACES)
    assert (result.checked, result.skipped, result.drifts) == (3, 3, ())


def test_crs_labelled_ours_without_a_live_row_are_orphans() -> None:
    live = snapshot()
    gone = snapshot(record(name="gone"))
    orphan_cr = cr_for(gone)
    stray = cr_for(live)
    stray["metadata"]["name"] = "copy-of-orders"
    result = compare.compare(
        [live], [cr_for(live), orphan_cr, stray], project_of_namespace=NAMESPACES
    )
    assert result.drifts == ()
    assert sorted(o.name for o in result.orphans) == ["copy-of-orders", "gone"]
    assert {o.project_id for o in result.orphans} == {"acme"}


def test_terminating_crs_are_neither_drift_nor_orphans() -> None:
    snap = snapshot()
    cr = cr_for(snap, replicas=1)
    cr["metadata"]["deletionTimestamp"] = "2026-08-01T00:00:00Z"
    other = cr_for(snapshot(record(id=uuid.uuid4(), name="old")))
    other["metadata"]["deletionTimestamp"] = "2026-08-01T00:00:00Z"
    result = compare.compare([snap], [cr, other], project_of_namespace=NAMESPACES)
    assert (result.skipped, result.drifts, result.orphans) == (1, (), ())


def test_the_same_drift_has_the_same_fingerprint_and_another_drift_another() -> None:
    snap = snapshot()

    def fingerprint(replicas: int) -> str:
        (drift,) = compare.compare(
            [snap], [cr_for(snap, replicas=replicas)], project_of_namespace=NAMESPACES
        ).drifts
        return drift.fingerprint

    assert fingerprint(2) == fingerprint(2)
    assert fingerprint(2) != fingerprint(5)


def test_readings_and_whole_crs_give_the_same_comparison() -> None:
    snap, gone = snapshot(), snapshot(record(id=uuid.uuid4(), name="gone"))
    crs = [cr_for(snap, replicas=2), cr_for(gone)]
    readings = [cr_readings.observe_database(cr) for cr in crs]
    assert all(isinstance(r, cr_readings.ObservedDatabase) for r in readings)
    from_crs = compare.compare([snap], crs, project_of_namespace=NAMESPACES)
    from_readings = compare.compare([snap], readings, project_of_namespace=NAMESPACES)
    assert from_crs == from_readings
    assert [d.describe() for d in from_readings.drifts] == ["orders replicas 2→3"]
    (orphan,) = from_readings.orphans
    assert (orphan.kind, orphan.name, orphan.project_id) == ("Postgres", "gone", "acme")
    assert orphan.fingerprint == compare._fingerprint(
        "orphan", "Postgres", "dbaas-acme", "gone", crs[1]["metadata"]["uid"]
    )


def test_a_cr_of_another_kind_at_the_databases_name_is_an_orphan_not_its_cr() -> None:
    snap = snapshot()
    impostor = cr_for(snapshot(record(id=snap.record.id, engine="mysql", version="8.4.3")))
    result = compare.compare([snap], [impostor], project_of_namespace=NAMESPACES)
    (drift,) = result.drifts
    assert drift.missing
    (orphan,) = result.orphans
    assert (orphan.kind, orphan.name, orphan.database_id) == ("MySQL", "orders", snap.record.id)


def test_drift_reads_a_cr_without_its_conditions_and_decides_the_same() -> None:
    snap = snapshot()
    cr = cr_for(snap, replicas=2)
    bare = cr_readings.observe_database(cr, with_conditions=False)
    assert bare is not None and bare.conditions == [] and bare.message is None
    assert bare.spec == manifests.observed_spec_from_cr("postgres", cr)
    full = compare.compare([snap], [cr], project_of_namespace=NAMESPACES)
    assert compare.compare([snap], [bare], project_of_namespace=NAMESPACES) == full


def test_the_comparison_is_the_same_whatever_order_the_crs_arrive_in() -> None:
    # drift compares each CR as its page arrives; the findings come out in desired order
    snaps = [snapshot(record(id=uuid.uuid4(), name=f"db-{i}")) for i in range(6)]
    impostor = cr_for(snapshot(record(id=snaps[0].record.id, engine="mysql", version="8.4.3")))
    gone = cr_for(snapshot(record(id=uuid.uuid4(), name="gone")))
    crs = [cr_for(snaps[1], replicas=2), cr_for(snaps[2]), impostor, cr_for(snaps[4], replicas=1)]
    crs += [cr_for(snaps[5], storage="20Gi"), gone]
    expected = compare.compare(snaps, crs, project_of_namespace=NAMESPACES)
    assert [d.describe() for d in expected.drifts] == [
        "db-0 missing",
        "db-1 replicas 2→3",
        "db-3 missing",
        "db-4 replicas 1→3",
        "db-5 storage 20Gi→10Gi",
    ]
    for order in (crs[::-1], crs[2:] + crs[:2], [crs[3], crs[0], crs[5], crs[2], crs[4], crs[1]]):
        comparer = compare.Comparer(snaps, project_of_namespace=NAMESPACES)
        for cr in order:
            comparer.add(cr_readings.observe_database(cr, with_conditions=False) or cr)
        result = comparer.result()
        assert (result.checked, result.skipped, result.drifts) == (
            expected.checked,
            expected.skipped,
            expected.drifts,
        )
        assert sorted(result.orphans, key=lambda o: o.name) == sorted(
            expected.orphans, key=lambda o: o.name
        )
        assert [(o.kind, o.name) for o in sorted(result.orphans, key=lambda o: o.name)] == [
            ("Postgres", "gone"),
            ("MySQL", "orders"),  # the impostor: db-0's id at another kind's name
        ]
