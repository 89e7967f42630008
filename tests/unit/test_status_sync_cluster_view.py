"""status-sync's mirror of the cluster: lists replace, events update, absence is deletion;
it keeps compact readings of the objects, never the objects themselves."""

from __future__ import annotations

import copy
import sys
import uuid
from typing import Any

from services.reconcilers import cr_readings
from services.reconcilers.cr_readings import Changed, Listed
from services.reconcilers.status_sync.cluster_view import ClusterView
from tests.reconcilers_support import cr_for, operation, ops_request, record, snapshot


def mirror() -> ClusterView:
    return ClusterView(["postgreses"], ["postgresopsrequests"])


def test_it_is_synced_only_after_every_resource_was_listed() -> None:
    m = mirror()
    m.apply(Listed("postgreses", ()))
    assert not m.synced
    m.apply(Listed("postgresopsrequests", ()))
    assert m.synced


def test_events_index_crs_by_database_id_and_report_whom_they_touched() -> None:
    snap = snapshot()
    m = mirror()
    cr = cr_for(snap)
    assert m.apply(Changed("postgreses", "ADDED", cr)) == {snap.record.id}
    assert m.database(snap.record.id) == cr_readings.observe_database(cr)
    assert m.apply(Changed("postgreses", "DELETED", cr)) == {snap.record.id}
    assert m.database(snap.record.id) is None


def test_a_relist_drops_what_it_no_longer_holds_and_skips_unchanged_objects() -> None:
    kept, dropped = snapshot(), snapshot()
    kept_cr, dropped_cr = cr_for(kept), cr_for(dropped)
    dropped_cr["metadata"]["name"] = "other"
    m = mirror()
    m.apply(Listed("postgreses", (kept_cr, dropped_cr)))
    same_version = copy.deepcopy(kept_cr)
    assert m.apply(Listed("postgreses", (same_version,))) == {dropped.record.id}
    assert m.database(dropped.record.id) is None
    newer = copy.deepcopy(kept_cr)
    newer["metadata"]["resourceVersion"] = "99"
    assert m.apply(Listed("postgreses", (newer,))) == {kept.record.id}


def test_ops_requests_are_found_by_operation_id() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "scale")
    obj = ops_request(op, phase="Progressing")
    m = mirror()
    assert m.apply(Changed("postgresopsrequests", "ADDED", obj)) == set()
    assert m.ops_request(op.id) == cr_readings.compact_ops_request(obj)
    assert [o for _, o in m.ops_requests()] == [cr_readings.compact_ops_request(obj)]
    m.apply(Listed("postgresopsrequests", ()))
    assert m.ops_request(op.id) is None


def kubedb_cr(index: int) -> dict[str, Any]:
    """A CR as the simulated KubeDB reports a Ready postgres: its whole spec and five
    conditions with generations and transition times (what a list or a watch delivers)."""
    snap = snapshot(record(id=uuid.uuid4(), name=f"db-{index:05d}", cpu="500m", memory="1Gi"))
    cr = cr_for(snap, generation=2, observed_generation=2)
    cr["metadata"]["resourceVersion"] = str(1000 + index)
    cr["metadata"]["creationTimestamp"] = "2026-11-26T18:27:26Z"
    cr["metadata"]["finalizers"] = ["kubedb.com"]
    cr["metadata"]["annotations"] = {"dbaas.io/generation": "1"}
    cr["spec"]["authSecret"] = {"name": f"db-{index:05d}-auth", "apiGroup": "", "kind": "Secret"}
    cr["spec"]["healthChecker"] = {"failureThreshold": 1, "periodSeconds": 10, "timeoutSeconds": 10}
    cr["spec"]["allowedSchemas"] = {"namespaces": {"from": "Same"}}
    cr["spec"]["podTemplate"]["spec"]["podPlacementPolicy"] = {"name": "default"}
    ref = f"dbaas-acme/db-{index:05d}"
    cr["status"]["conditions"] = [
        {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "observedGeneration": 2,
            "lastTransitionTime": "2026-11-26T18:27:27Z",
        }
        for kind, reason, message in [
            ("ProvisioningStarted", "DatabaseProvisioningStartedSuccessfully", f"started {ref}"),
            ("ReplicaReady", "AllReplicasReady", "All desired replicas are ready."),
            ("AcceptingConnection", "DatabaseAcceptingConnectionRequest", f"{ref} accepting"),
            ("Ready", "ReadinessCheckSucceeded", f"database {ref} is ready"),
            ("Provisioned", "DatabaseSuccessfullyProvisioned", f"provisioned {ref}"),
        ]
    ]
    return cr


def test_a_database_cr_is_kept_as_a_reading_that_states_what_the_cr_states() -> None:
    cr = kubedb_cr(7)
    m = mirror()
    m.apply(Listed("postgreses", (cr,)))
    seen = m.database(uuid.UUID(cr["metadata"]["labels"]["dbaas.io/database-id"]))
    assert isinstance(seen, cr_readings.ObservedDatabase)
    assert (seen.namespace, seen.name, seen.phase, seen.generation) == (
        "dbaas-acme",
        "db-00007",
        "Ready",
        2,
    )
    assert (seen.resource_version, seen.caught_up, seen.terminating) == ("1007", True, False)
    assert seen.spec == {
        "version": "16.13",
        "replicas": 3,
        "storage": "10Gi",
        "cpu": "500m",
        "memory": "1Gi",
        "deletion_policy": "Delete",
        "topology": "replicated",
    }
    # Every field of every condition survives (the API shows them in status.conditions).
    assert seen.conditions == cr["status"]["conditions"]
    assert seen.message == "database dbaas-acme/db-00007 is ready"
    assert seen.endpoint == "db-00007.dbaas-acme.svc:5432"


def test_strings_that_repeat_across_crs_are_held_once() -> None:
    first, second = (
        cr_readings.observe_database(kubedb_cr(1)),
        cr_readings.observe_database(kubedb_cr(2)),
    )
    assert first is not None and second is not None
    assert first.phase is second.phase
    assert first.spec["version"] is second.spec["version"]
    shared = [
        (a.reason, b.reason)
        for a, b in zip(first.condition_facts, second.condition_facts, strict=True)
    ]
    assert all(a is b for a, b in shared)
    assert first.condition_facts[0].last_transition_time is (
        second.condition_facts[0].last_transition_time
    )


def test_readings_that_state_the_same_spec_share_one_dict() -> None:
    first, second = (
        cr_readings.observe_database(kubedb_cr(1)),
        cr_readings.observe_database(kubedb_cr(2)),
    )
    other_cr = kubedb_cr(3)
    other_cr["spec"]["replicas"] = 5
    other = cr_readings.observe_database(other_cr)
    assert first is not None and second is not None and other is not None
    assert first.spec is second.spec
    assert other.spec is not first.spec
    assert (other.spec["replicas"], first.spec["replicas"]) == (5, 3)


def test_a_reading_takes_a_fraction_of_the_memory_of_the_cr() -> None:
    def deep_size(obj: object, seen: set[int]) -> int:
        if id(obj) in seen or isinstance(obj, (type, uuid.UUID)) or obj is None:
            return 0
        seen.add(id(obj))
        size = sys.getsizeof(obj)
        if isinstance(obj, dict):
            size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            size += sum(deep_size(item, seen) for item in obj)
        elif hasattr(obj, "__slots__"):
            size += sum(deep_size(getattr(obj, name), seen) for name in obj.__slots__)
        return size

    crs = [kubedb_cr(i) for i in range(200)]
    whole = deep_size(crs, set())
    readings = [cr_readings.observe_database(cr) for cr in crs]
    kept = deep_size(readings, set())
    assert kept * 3 < whole
    assert kept / len(readings) < 2048  # bytes: ~20 MiB for 10,000 databases


def test_conditions_are_packed_and_read_back_as_the_cr_states_them() -> None:
    cr = kubedb_cr(3)
    cr["status"]["conditions"] += [
        {"type": "Paused", "status": "False", "message": 'é ✓ "quoted"'},  # fields left out
        {"type": "Odd", "status": True, "observedGeneration": "7", "extra": "dropped"},
        "not a condition",
    ]
    seen = cr_readings.observe_database(cr)
    assert seen is not None
    assert isinstance(seen.packed_conditions, bytes)
    assert len(seen.packed_conditions) < len(str(cr["status"]["conditions"])) / 2
    assert seen.conditions == [
        *cr["status"]["conditions"][:5],
        {"type": "Paused", "status": "False", "message": 'é ✓ "quoted"'},
        {"type": "Odd", "status": "True"},  # as text; a generation that is no int is left out
    ]
    assert seen.condition_facts == seen.condition_facts  # unpacked afresh, equal each time
    assert cr_readings.observe_database(cr, with_conditions=False).packed_conditions == b""
    bare = copy.deepcopy(cr)
    del bare["status"]["conditions"]
    assert cr_readings.observe_database(bare).conditions == []


def test_an_ops_request_is_kept_as_the_fields_status_sync_decides_on() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "scale")
    conditions = [
        {
            "type": "Failed",
            "status": "True",
            "reason": "HorizontalScaleFailed",
            "message": "not enough nodes",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-08-01T00:00:00Z",
        }
    ]
    obj = ops_request(op, phase="Failed", conditions=conditions)
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    obj["spec"]["horizontalScaling"] = {"replicas": 5}
    m = mirror()
    m.apply(Changed("postgresopsrequests", "ADDED", obj))
    kept = m.ops_request(op.id)
    assert kept is not None and "managedFields" not in kept["metadata"]
    assert kept["spec"] == {"type": "HorizontalScaling", "databaseRef": {"name": "orders"}}
    assert kept["status"]["conditions"] == [
        {k: conditions[0][k] for k in ("type", "status", "reason", "message")}
    ]
    assert cr_readings.ops_verdict(kept) == cr_readings.ops_verdict(obj)
    assert cr_readings.key(kept) == cr_readings.key(obj)
    assert cr_readings.operation_id(kept) == op.id


def test_a_cr_relabelled_to_another_database_moves_in_the_index() -> None:
    first, second = snapshot(), snapshot(record(id=uuid.uuid4()))
    cr = cr_for(first)
    m = mirror()
    m.apply(Changed("postgreses", "ADDED", cr))
    moved = copy.deepcopy(cr)
    moved["metadata"]["labels"]["dbaas.io/database-id"] = str(second.record.id)
    moved["metadata"]["resourceVersion"] = "2"
    assert m.apply(Changed("postgreses", "MODIFIED", moved)) == {
        first.record.id,
        second.record.id,
    }
    assert m.database(first.record.id) is None
    assert m.database(second.record.id) == cr_readings.observe_database(moved)
    assert m.database_ids() == {second.record.id}


def test_readings_made_by_the_watcher_are_taken_as_they_are() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "scale")
    cr, ops = cr_for(snap), ops_request(op, phase="Successful")
    from_objects, from_readings = mirror(), mirror()
    from_objects.apply(Listed("postgreses", (cr,)))
    from_objects.apply(Changed("postgresopsrequests", "ADDED", ops))
    reading = cr_readings.compact(copy.deepcopy(cr))
    assert isinstance(reading, cr_readings.ObservedDatabase)
    from_readings.apply(Listed("postgreses", (reading,)))  # as the watcher hands them over
    compact_ops = cr_readings.compact_ops_request(copy.deepcopy(ops))
    from_readings.apply(Changed("postgresopsrequests", "ADDED", compact_ops))
    assert from_readings.database(snap.record.id) is reading
    assert from_readings.database(snap.record.id) == from_objects.database(snap.record.id)
    assert from_readings.ops_request(op.id) == from_objects.ops_request(op.id)
    assert cr_readings.compact(copy.deepcopy(ops)) == compact_ops
    assert cr_readings.compact(compact_ops) == compact_ops  # compacting twice changes nothing
