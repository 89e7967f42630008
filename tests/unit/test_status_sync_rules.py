"""status-sync's pure decisions: when a waiting operation ends, and what status to write."""

from __future__ import annotations

import dataclasses

from services.reconcilers import cr_readings
from services.reconcilers.status_sync import rules
from services.reconcilers.status_sync.rules import Fail, OpsView, Succeed
from tests.reconcilers_support import cr_for, operation, ops_request, record, snapshot


def view(**overrides: object) -> OpsView:
    values: dict[str, object] = {
        "database": None,
        "ops_request": None,
        "ops_request_name": None,
        "synced": True,
        "successful_for": None,
        "missing_for": None,
    }
    values.update(overrides)
    return OpsView(**values)  # type: ignore[arg-type]


def observed(cr: dict[str, object]) -> cr_readings.ObservedDatabase:
    seen = cr_readings.observe_database(cr)
    assert seen is not None
    return seen


def test_create_succeeds_once_the_cr_is_ready_and_kubedb_caught_up() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "create")
    provisioning = observed(cr_for(snap, phase="Provisioning"))
    stale = observed(cr_for(snap, phase="Ready", generation=2, observed_generation=1))
    ready = observed(cr_for(snap, phase="Ready", generation=2, observed_generation=2))
    assert rules.decide_completion(op, view(database=provisioning)) is None
    assert rules.decide_completion(op, view(database=stale)) is None
    assert isinstance(rules.decide_completion(op, view(database=ready)), Succeed)


def test_delete_succeeds_only_when_a_complete_view_lacks_the_cr() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "delete")
    terminating = cr_for(snap)
    terminating["metadata"]["deletionTimestamp"] = "2026-08-01T00:00:00Z"
    assert rules.decide_completion(op, view(database=observed(terminating))) is None
    assert rules.decide_completion(op, view(database=None, synced=False)) is None
    assert isinstance(rules.decide_completion(op, view(database=None)), Succeed)


def test_a_successful_ops_request_succeeds_once_kubedb_wrote_the_values_back() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "scale", params={"replicas": 5})
    verdict = cr_readings.ops_verdict(ops_request(op, phase="Successful"))
    old = observed(cr_for(snap))
    new = observed(cr_for(snap, replicas=5, generation=2, observed_generation=2))
    assert rules.decide_completion(op, view(database=old, ops_request=verdict)) is None
    late = view(database=old, ops_request=verdict, successful_for=31.0)
    assert isinstance(rules.decide_completion(op, late), Succeed)
    assert isinstance(rules.decide_completion(op, view(database=new, ops_request=verdict)), Succeed)


def test_a_restart_succeeds_with_its_ops_request() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "restart")
    verdict = cr_readings.ops_verdict(ops_request(op, phase="Successful"))
    assert isinstance(rules.decide_completion(op, view(ops_request=verdict)), Succeed)
    pending = cr_readings.ops_verdict(ops_request(op, phase="Progressing"))
    assert rules.decide_completion(op, view(ops_request=pending)) is None


def test_a_failed_ops_request_fails_the_operation_with_kubedbs_reason_and_message() -> None:
    snap = snapshot()
    op = operation(
        snap.record.id, "upgrade", params={"version": "17.2"}, k8s_kind="PostgresOpsRequest"
    )
    conditions = [
        {"type": "Progressing", "status": "True", "reason": "Progressing", "message": "started"},
        {
            "type": "Failed",
            "status": "True",
            "reason": "UpdateVersionFailed",
            "message": "target version 17.2 is not allowed",
        },
    ]
    verdict = cr_readings.ops_verdict(ops_request(op, phase="Failed", conditions=conditions))
    decision = rules.decide_completion(op, view(ops_request=verdict, ops_request_name="x"))
    assert isinstance(decision, Fail)
    assert decision.problem["type"] == "kubedb-ops-failed"
    assert decision.problem["kubedb"]["reason"] == "UpdateVersionFailed"
    assert "target version 17.2 is not allowed" in decision.problem["detail"]


def test_a_skipped_ops_request_fails_as_superseded() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "scale", params={"replicas": 2})
    conditions = [
        {
            "type": "Skipped",
            "status": "True",
            "reason": "Skipped",
            "message": "skipped as ns/x is the most updated",
        }
    ]
    verdict = cr_readings.ops_verdict(ops_request(op, phase="Skipped", conditions=conditions))
    decision = rules.decide_completion(op, view(ops_request=verdict))
    assert isinstance(decision, Fail)
    assert decision.problem["type"] == "kubedb-ops-superseded"
    assert "superseded" in decision.problem["detail"]


def test_an_ops_request_missing_past_the_grace_period_fails_as_vanished() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "expand", params={"storage": "20Gi"})
    assert rules.decide_completion(op, view(missing_for=5.0)) is None
    decision = rules.decide_completion(op, view(missing_for=600.0))
    assert isinstance(decision, Fail) and decision.problem["type"] == "kubedb-ops-vanished"


def test_status_of_a_ready_database_in_sync_reports_generation_and_endpoint() -> None:
    snap = snapshot(record(generation=3, state="updating"))
    status = rules.decide_status(snap, observed(cr_for(snap, generation=2, observed_generation=2)))
    assert status.state == "ready"
    assert status.phase == "Ready"
    assert status.observed_generation == 3
    assert status.endpoint == "orders.dbaas-acme.svc:5432"
    assert status.observed_spec is not None and status.observed_spec["replicas"] == 3


def test_status_while_an_operation_is_open_keeps_the_prior_observed_generation() -> None:
    snap = snapshot(record(generation=3, observed_generation=2), open_operations=("scale",))
    status = rules.decide_status(snap, observed(cr_for(snap)))
    assert status.state == "updating"
    assert status.observed_generation == 2


def test_status_of_a_database_whose_cr_vanished_is_degraded_with_a_message() -> None:
    status = rules.decide_status(snapshot(), None)
    assert status.state == "degraded"
    assert status.phase is None and status.endpoint is None
    assert status.status_message == rules.MISSING_CR_MESSAGE


def test_status_shows_the_message_of_the_failing_condition() -> None:
    snap = snapshot()
    cr = cr_for(snap, phase="Critical")
    cr["status"]["conditions"].append(
        {
            "type": "ReplicaReady",
            "status": "False",
            "reason": "SomeReplicasNotReady",
            "message": "1 of 3 replicas not ready",
        }
    )
    status = rules.decide_status(snap, observed(cr))
    assert status.state == "degraded"
    assert status.status_message == "database is Critical"


def test_an_operation_kubedb_never_finishes_fails_as_timed_out_naming_what_it_shows() -> None:
    snap = snapshot()
    create = operation(snap.record.id, "create")
    provisioning = view(database=observed(cr_for(snap, phase="Provisioning")), running_for=59.0)
    assert rules.decide_completion(create, provisioning, timeout_seconds=60) is None
    late = dataclasses.replace(provisioning, running_for=61.0)
    assert rules.decide_completion(create, late) is None  # no timeout given: none applies
    decision = rules.decide_completion(create, late, timeout_seconds=60)
    assert isinstance(decision, Fail)
    assert decision.problem["type"] == "operation-timed-out"
    assert decision.problem["status"] == 504
    assert decision.problem["detail"] == (
        "create not finished 60 s after it started; orders is Provisioning:"
        " database is Provisioning"  # the message of the CR's failing condition
    )
    scale = operation(snap.record.id, "scale", params={"replicas": 3})
    stuck = ops_request(scale, phase="Progressing")
    stuck_view = view(
        ops_request=cr_readings.ops_verdict(stuck),
        ops_request_name=stuck["metadata"]["name"],
        running_for=7200.0,
    )
    decision = rules.decide_completion(scale, stuck_view, timeout_seconds=3600)
    assert isinstance(decision, Fail)
    assert decision.problem["detail"].endswith(f"{stuck['metadata']['name']} is Progressing")


def test_an_operation_that_ended_is_never_timed_out() -> None:
    snap = snapshot()
    create = operation(snap.record.id, "create")
    ready = view(database=observed(cr_for(snap, phase="Ready")), running_for=99_999.0)
    assert isinstance(rules.decide_completion(create, ready, timeout_seconds=60), Succeed)


def test_a_deletion_held_by_a_finalizer_times_out_saying_so() -> None:
    snap = snapshot()
    delete = operation(snap.record.id, "delete")
    terminating = cr_for(snap)
    terminating["metadata"]["deletionTimestamp"] = "2026-08-01T00:00:00Z"
    held = view(database=observed(terminating), running_for=4000.0)
    decision = rules.decide_completion(delete, held, timeout_seconds=3600)
    assert isinstance(decision, Fail)
    assert "terminating (a finalizer holds it)" in decision.problem["detail"]
