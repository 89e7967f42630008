"""The simulated ops-manager: phases, the change applied to the database, KubeDB's rules."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import watch

from tests.fixtures_sim import SimCluster
from tests.sim.kube import (
    DB_GROUP,
    DB_VERSION,
    NS,
    OPS_GROUP,
    OPS_VERSION,
    Kube,
    conditions,
    expect_error,
    ops_request,
    postgres,
)


def _pg_ops(name: str, op_type: str, db: str = "orders", **fields: Any) -> dict[str, Any]:
    return ops_request("PostgresOpsRequest", name, db, op_type, **fields)


def _failure(op: dict[str, Any]) -> str:
    failed = [c for c in op["status"]["conditions"] if c["type"] == "Failed"]
    assert failed and failed[0]["status"] == "True"
    return str(failed[0]["message"])


def test_horizontal_scaling_goes_pending_progressing_successful_and_scales(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    start = kube.custom.list_namespaced_custom_object(
        OPS_GROUP, OPS_VERSION, NS, "postgresopsrequests"
    )["metadata"]["resourceVersion"]
    kube.create_ops(_pg_ops("scale", "HorizontalScaling", horizontalScaling={"replicas": 3}))
    phases: list[str] = []
    stream = watch.Watch().stream(
        kube.custom.list_namespaced_custom_object,
        OPS_GROUP,
        OPS_VERSION,
        NS,
        "postgresopsrequests",
        resource_version=start,
        timeout_seconds=10,
    )
    for event in stream:
        phase = (event["object"].get("status") or {}).get("phase")
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
            if phase == "Progressing":
                assert conditions(kube.get_db("orders")).get("Paused") == "True"
        if phase == "Successful":
            break
    stream.close()
    assert phases == ["Pending", "Progressing", "Successful"]
    db = kube.get_db("orders")
    assert db["spec"]["replicas"] == 3
    assert db["metadata"]["generation"] == ready["metadata"]["generation"] + 1
    assert db["status"]["observedGeneration"] == db["metadata"]["generation"]
    assert "Paused" not in conditions(db)
    op = kube.get_ops("scale")
    assert conditions(op)["Successful"] == "True"


def test_mysql_scales_through_horizontal_scaling_member(kube: Kube) -> None:
    body = {
        "apiVersion": "kubedb.com/v1",
        "kind": "MySQL",
        "metadata": {"name": "shop"},
        "spec": {
            "version": "8.4.3",
            "replicas": 3,
            "topology": {"mode": "GroupReplication"},
            "storage": {"resources": {"requests": {"storage": "1Gi"}}},
        },
    }
    kube.ready_db(body, plural="mysqls")
    kube.create_ops(
        ops_request(
            "MySQLOpsRequest", "grow", "shop", "HorizontalScaling", horizontalScaling={"member": 5}
        ),
        plural="mysqlopsrequests",
    )
    kube.wait_ops_phase("grow", "Successful", plural="mysqlopsrequests")
    assert kube.get_db("shop", plural="mysqls")["spec"]["replicas"] == 5


def test_a_redis_cluster_scales_replicas_per_shard(kube: Kube) -> None:
    body = {
        "apiVersion": "kubedb.com/v1",
        "kind": "Redis",
        "metadata": {"name": "cache"},
        "spec": {
            "version": "7.4.1",
            "mode": "Cluster",
            "cluster": {"shards": 3, "replicas": 2},
            "storage": {"resources": {"requests": {"storage": "1Gi"}}},
        },
    }
    kube.ready_db(body, plural="redises")
    kube.create_ops(
        ops_request(
            "RedisOpsRequest",
            "grow",
            "cache",
            "HorizontalScaling",
            horizontalScaling={"replicas": 4},
        ),
        plural="redisopsrequests",
    )
    kube.wait_ops_phase("grow", "Successful", plural="redisopsrequests")
    cluster = kube.get_db("cache", plural="redises")["spec"]["cluster"]
    assert cluster == {"shards": 3, "replicas": 4}


def test_vertical_scaling_sets_the_main_container_resources(kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    resources = {
        "requests": {"cpu": "700m", "memory": "1200Mi"},
        "limits": {"cpu": "700m", "memory": "1200Mi"},
    }
    kube.create_ops(
        _pg_ops("resize", "VerticalScaling", verticalScaling={"postgres": {"resources": resources}})
    )
    kube.wait_ops_phase("resize", "Successful")
    containers = kube.get_db("orders")["spec"]["podTemplate"]["spec"]["containers"]
    assert [c["resources"] for c in containers if c["name"] == "postgres"] == [resources]


def test_volume_expansion_grows_storage(kube: Kube) -> None:
    kube.ready_db(postgres("orders", storage="1Gi"))
    kube.create_ops(
        _pg_ops("grow", "VolumeExpansion", volumeExpansion={"mode": "Online", "postgres": "2Gi"})
    )
    kube.wait_ops_phase("grow", "Successful")
    storage = kube.get_db("orders")["spec"]["storage"]["resources"]["requests"]["storage"]
    assert storage == "2Gi"


@pytest.mark.parametrize("size", ["1Gi", "1024Mi", "512Mi"])
def test_volume_expansion_that_does_not_grow_is_refused_by_the_webhook(
    kube: Kube, size: str
) -> None:
    kube.ready_db(postgres("orders", storage="1Gi"))
    shrink = _pg_ops(
        "shrink", "VolumeExpansion", volumeExpansion={"mode": "Offline", "postgres": size}
    )
    status = expect_error(403, kube.create_ops, shrink)
    assert "desired storage size must be greater than current storage" in status["message"]
    assert 'admission webhook "postgresopsrequest.validators.ops.kubedb.com"' in status["message"]
    db = kube.get_db("orders")
    assert db["spec"]["storage"]["resources"]["requests"]["storage"] == "1Gi"
    assert "Paused" not in conditions(db)


def test_update_version_to_an_allowed_target_succeeds(kube: Kube) -> None:
    kube.ready_db(postgres("orders", version="16.4"))
    kube.create_ops(_pg_ops("up", "UpdateVersion", updateVersion={"targetVersion": "17.2"}))
    kube.wait_ops_phase("up", "Successful")
    assert kube.get_db("orders")["spec"]["version"] == "17.2"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        # KubeDB's words (the sim's rules.py), not dbaas's: no separate downgrade check,
        # a target outside the update constraints is simply not upgradable.
        ("18.3", "can't be updated to 18.3, it is not in the list of upgradable versions"),
        ("16.1", "can't be updated to 16.1, it is not in the list of upgradable versions"),
        ("99.0", 'postgresversions.catalog.kubedb.com "99.0" not found'),
        ("16.4-bookworm", "spec.db.baseOS of 16.4-bookworm (bookworm) differs"),
    ],
)
def test_update_version_to_a_disallowed_target_is_refused_with_the_reason(
    kube: Kube, target: str, reason: str
) -> None:
    kube.ready_db(postgres("orders", version="16.4"))
    up = _pg_ops("up", "UpdateVersion", updateVersion={"targetVersion": target})
    status = expect_error(403, kube.create_ops, up)
    assert reason in status["message"]
    assert kube.get_db("orders")["spec"]["version"] == "16.4"


def test_a_version_check_that_passed_at_create_is_made_again_when_the_request_runs(
    kube: Kube,
) -> None:
    kube.ready_db(postgres("orders", version="16.4"))
    kube.create_ops(_pg_ops("scale", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    kube.create_ops(_pg_ops("up", "UpdateVersion", updateVersion={"targetVersion": "17.2"}))
    # While `up` waits behind `scale`, the database moves on by another way.
    kube.wait_ops_phase("scale", "Successful")
    kube.sim.vanish("postgresversions.catalog.kubedb.com", "", "17.2")
    failed = kube.wait_ops_phase("up", "Failed")
    assert 'postgresversions.catalog.kubedb.com "17.2" not found' in _failure(failed)


def test_restart_succeeds_without_touching_the_spec(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    kube.create_ops(_pg_ops("bounce", "Restart", restart={}))
    kube.wait_ops_phase("bounce", "Successful")
    assert kube.get_db("orders")["metadata"]["generation"] == ready["metadata"]["generation"]


def test_only_one_ops_request_per_database_progresses_and_the_oldest_goes_next(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders"))
    kube.ready_db(postgres("other"))
    sim.hang_next_ops(database=f"{NS}/orders")
    kube.create_ops(_pg_ops("first", "Restart", restart={}))
    kube.wait_ops_phase("first", "Progressing")
    kube.create_ops(_pg_ops("second", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    kube.create_ops(
        _pg_ops("third", "VolumeExpansion", volumeExpansion={"mode": "Online", "postgres": "5Gi"})
    )
    kube.create_ops(_pg_ops("elsewhere", "Restart", db="other", restart={}))
    kube.wait_ops_phase("elsewhere", "Successful")
    assert kube.get_ops("second")["status"]["phase"] == "Pending"
    assert kube.get_ops("third")["status"]["phase"] == "Pending"
    kube.custom.delete_namespaced_custom_object(
        OPS_GROUP, OPS_VERSION, NS, "postgresopsrequests", "first"
    )
    kube.wait_ops_phase("second", "Successful")
    third = kube.wait_ops_phase("third", "Successful")
    second = kube.get_ops("second")
    finished = {c["type"]: c["lastTransitionTime"] for c in second["status"]["conditions"]}
    started = {c["type"]: c["lastTransitionTime"] for c in third["status"]["conditions"]}
    assert finished["Successful"] <= started["Progressing"]


def test_older_pending_requests_of_the_same_type_are_skipped(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    sim.hang_next_ops()
    kube.create_ops(_pg_ops("busy", "Restart", restart={}))
    kube.wait_ops_phase("busy", "Progressing")
    # KubeDB orders by creationTimestamp (seconds), then by name: scale-2 is newer either way.
    kube.create_ops(_pg_ops("scale-1", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    kube.create_ops(_pg_ops("scale-2", "HorizontalScaling", horizontalScaling={"replicas": 3}))
    skipped = kube.wait_ops_phase("scale-1", "Skipped")
    message = [c["message"] for c in skipped["status"]["conditions"] if c["type"] == "Skipped"]
    assert message == [
        f"skipped as {NS}/scale-2 is the most updated PostgresOpsRequest of type HorizontalScaling"
    ]
    kube.custom.delete_namespaced_custom_object(
        OPS_GROUP, OPS_VERSION, NS, "postgresopsrequests", "busy"
    )
    kube.wait_ops_phase("scale-2", "Successful")
    assert kube.get_db("orders")["spec"]["replicas"] == 3


def test_the_spec_of_an_ops_request_is_immutable(kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    kube.create_ops(_pg_ops("scale", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    status = expect_error(
        403,
        kube.custom.patch_namespaced_custom_object,
        OPS_GROUP,
        OPS_VERSION,
        NS,
        "postgresopsrequests",
        "scale",
        {"spec": {"horizontalScaling": {"replicas": 4}}},
    )
    assert "At least one of the following was changed" in status["message"]
    labelled = kube.custom.patch_namespaced_custom_object(
        OPS_GROUP,
        OPS_VERSION,
        NS,
        "postgresopsrequests",
        "scale",
        {"metadata": {"labels": {"operation": "42"}}},
    )
    assert labelled["metadata"]["labels"] == {"operation": "42"}


def test_an_ops_request_for_a_missing_database_is_refused(kube: Kube) -> None:
    status = expect_error(
        403,
        kube.create_ops,
        _pg_ops("scale", "HorizontalScaling", db="ghost", horizontalScaling={"replicas": 2}),
    )
    assert "spec.databaseRef demo/ghost, is invalid or not found" in status["message"]


def test_an_ops_request_without_its_sub_spec_is_refused(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    status = expect_error(403, kube.create_ops, _pg_ops("resize", "VerticalScaling"))
    assert "spec.verticalScaling nil not supported in VerticalScaling type" in status["message"]


def test_the_next_ops_request_can_be_made_to_fail_with_a_reason(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders"))
    sim.fail_next_ops("disk controller on fire", database=f"{NS}/orders")
    kube.create_ops(_pg_ops("doomed", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    failed = kube.wait_ops_phase("doomed", "Failed")
    assert _failure(failed) == "disk controller on fire"
    db = kube.get_db("orders")
    assert db["spec"]["replicas"] == 1
    assert "Paused" not in conditions(db)
    kube.create_ops(_pg_ops("retry", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    kube.wait_ops_phase("retry", "Successful")


def test_a_hung_ops_request_stays_progressing_with_the_database_paused(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders"))
    sim.hang_next_ops()
    kube.create_ops(_pg_ops("stuck", "Restart", restart={}))
    kube.wait_ops_phase("stuck", "Progressing")
    sim.wait_for(lambda: sim.stats()["operator_tasks"] == 0)
    assert kube.get_ops("stuck")["status"]["phase"] == "Progressing"
    assert conditions(kube.get_db("orders"))["Paused"] == "True"


def test_if_ready_requests_wait_for_a_ready_database_and_always_ones_do_not(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders"))
    sim.set_phase("postgreses", NS, "orders", "Critical")
    kube.create_ops(_pg_ops("careful", "Restart", restart={}))
    kube.create_ops(
        _pg_ops("forced", "HorizontalScaling", apply="Always", horizontalScaling={"replicas": 2})
    )
    kube.wait_ops_phase("forced", "Successful")
    assert kube.get_ops("careful")["status"]["phase"] == "Pending"
    sim.set_phase("postgreses", NS, "orders", "Ready")
    kube.wait_ops_phase("careful", "Successful")


def test_ops_request_creations_are_counted_even_after_deletion(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    for _ in range(2):
        kube.create_ops(_pg_ops("bounce", "Restart", restart={}))
        kube.wait_ops_phase("bounce", "Successful")
        kube.custom.delete_namespaced_custom_object(
            OPS_GROUP, OPS_VERSION, NS, "postgresopsrequests", "bounce"
        )
    assert sim.ops_created(NS, "bounce") == 2
    assert sim.requests("create", "postgresopsrequests") == 2
    assert sim.requests("delete", "postgresopsrequests") == 2


def test_a_database_edited_while_paused_is_observed_when_the_request_ends(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders"))
    kube.create_ops(_pg_ops("scale", "HorizontalScaling", horizontalScaling={"replicas": 2}))
    kube.wait_ops_phase("scale", "Successful")
    db = kube.get_db("orders")
    assert db["status"]["observedGeneration"] == db["metadata"]["generation"]
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"replicas": 1}}
    )
    sim.wait_for(
        lambda: (
            kube.get_db("orders")["status"]["observedGeneration"]
            == kube.get_db("orders")["metadata"]["generation"]
        )
    )
