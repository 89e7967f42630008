from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from services.domain import manifests
from services.domain.engines import Engine
from services.domain.planning import OperationType
from services.domain.specs import DatabaseSpec

DB_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
OP_ID = uuid.UUID("99999999-8888-7777-6666-555555555555")
VERSIONS = {
    Engine.POSTGRES: "16.4",
    Engine.MYSQL: "8.4.3",
    Engine.MONGODB: "7.0.21",
    Engine.REDIS: "7.4.1",
}
REPLICATED = {Engine.POSTGRES: 3, Engine.MYSQL: 3, Engine.MONGODB: 3, Engine.REDIS: 3}


def spec(engine: Engine = Engine.POSTGRES, replicas: int = 1, **fields: Any) -> DatabaseSpec:
    base: dict[str, Any] = {
        "name": "orders",
        "engine": engine,
        "version": VERSIONS[engine],
        "replicas": replicas,
        "storage": "10Gi",
    }
    base.update(fields)
    return DatabaseSpec(**base)


def database(value: DatabaseSpec, **options: Any) -> dict[str, Any]:
    return manifests.render_database(
        value,
        namespace="dbaas-team",
        database_id=DB_ID,
        project_id="team",
        generation=4,
        **options,
    )


def ops(value: DatabaseSpec, op_type: str, params: dict[str, Any], **options: Any) -> Any:
    return manifests.render_ops_request(
        value,
        op_type,
        params,
        namespace="dbaas-team",
        name=f"orders-{op_type}-999999998888",
        database_id=DB_ID,
        operation_id=OP_ID,
        project_id="team",
        **options,
    )


# -- database CRs ------------------------------------------------------------------------


def test_a_standalone_postgres_cr_in_full() -> None:
    assert database(spec(deletion_policy="Halt")) == {
        "apiVersion": "kubedb.com/v1",
        "kind": "Postgres",
        "metadata": {
            "name": "orders",
            "namespace": "dbaas-team",
            "labels": {
                "app.kubernetes.io/managed-by": "dbaas",
                "dbaas.io/project": "team",
                "dbaas.io/database-id": str(DB_ID),
            },
            "annotations": {"dbaas.io/generation": "4"},
        },
        "spec": {
            "version": "16.4",
            "replicas": 1,
            "standbyMode": "Hot",
            "streamingMode": "Asynchronous",
            "storageType": "Durable",
            "storage": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
            "deletionPolicy": "Halt",
        },
    }


def test_a_postgres_cluster_differs_only_in_replicas() -> None:
    standalone, cluster = database(spec()), database(spec(replicas=3))
    assert cluster["spec"]["replicas"] == 3
    cluster["spec"]["replicas"] = 1
    assert cluster == standalone


def test_mysql_standalone_has_no_topology_and_a_group_uses_group_replication() -> None:
    standalone = database(spec(Engine.MYSQL))["spec"]
    assert standalone["replicas"] == 1
    assert "topology" not in standalone
    group = database(spec(Engine.MYSQL, 5))["spec"]
    assert group["replicas"] == 5
    assert group["topology"] == {"mode": "GroupReplication", "group": {"mode": "Single-Primary"}}


def test_mongodb_standalone_has_no_replica_set_and_replicated_is_rs0() -> None:
    standalone = database(spec(Engine.MONGODB))
    assert standalone["kind"] == "MongoDB"
    assert "replicaSet" not in standalone["spec"]
    replica_set = database(spec(Engine.MONGODB, 5))["spec"]
    assert replica_set["replicaSet"] == {"name": "rs0"}
    assert replica_set["replicas"] == 5


def test_redis_standalone_mode_and_cluster_mode_with_nodes_per_shard() -> None:
    standalone = database(spec(Engine.REDIS))["spec"]
    assert (standalone["mode"], standalone["replicas"]) == ("Standalone", 1)
    cluster = database(spec(Engine.REDIS, 4))["spec"]
    assert cluster["mode"] == "Cluster"
    assert cluster["cluster"] == {"shards": 3, "replicas": 4}
    assert "replicas" not in cluster  # ignored by KubeDB in Cluster mode


@pytest.mark.parametrize("engine", list(Engine))
def test_every_cr_has_durable_storage_the_policy_and_our_labels(engine: Engine) -> None:
    for replicas in (1, REPLICATED[engine]):
        cr = database(spec(engine, replicas, deletion_policy="WipeOut", storage="1536Mi"))
        body = cr["spec"]
        assert body["storageType"] == "Durable"
        assert body["storage"]["accessModes"] == ["ReadWriteOnce"]
        assert body["storage"]["resources"]["requests"]["storage"] == "1536Mi"
        assert "storageClassName" not in body["storage"]
        assert body["deletionPolicy"] == "WipeOut"
        assert body["version"] == VERSIONS[engine]
        assert "podTemplate" not in body
        assert cr["metadata"]["labels"][manifests.LABEL_DATABASE_ID] == str(DB_ID)


def test_a_storage_class_is_rendered_when_given() -> None:
    cr = database(spec(), storage_class="fast-ssd")
    assert cr["spec"]["storage"]["storageClassName"] == "fast-ssd"


@pytest.mark.parametrize(
    ("engine", "container"),
    [
        (Engine.POSTGRES, "postgres"),
        (Engine.MYSQL, "mysql"),
        (Engine.MONGODB, "mongodb"),
        (Engine.REDIS, "redis"),
    ],
)
def test_resources_go_to_the_main_container_with_a_memory_limit(
    engine: Engine, container: str
) -> None:
    body = database(spec(engine, cpu="1500m", memory="2Gi"))["spec"]
    assert body["podTemplate"] == {
        "spec": {
            "containers": [
                {
                    "name": container,
                    "resources": {
                        "requests": {"cpu": "1500m", "memory": "2Gi"},
                        "limits": {"memory": "2Gi"},
                    },
                }
            ]
        }
    }


def test_cpu_alone_sets_no_limit_and_memory_alone_sets_request_and_limit() -> None:
    cpu_only = database(spec(cpu="250m"))["spec"]["podTemplate"]["spec"]["containers"][0]
    assert cpu_only["resources"] == {"requests": {"cpu": "250m"}}
    memory_only = database(spec(memory="512Mi"))["spec"]["podTemplate"]["spec"]["containers"][0]
    assert memory_only["resources"] == {
        "requests": {"memory": "512Mi"},
        "limits": {"memory": "512Mi"},
    }


# -- OpsRequests -------------------------------------------------------------------------


def test_an_ops_request_carries_labels_timeout_and_apply() -> None:
    obj = ops(spec(replicas=3), "scale", {"replicas": 5})
    assert obj["apiVersion"] == "ops.kubedb.com/v1alpha1"
    assert obj["kind"] == "PostgresOpsRequest"
    assert obj["metadata"] == {
        "name": "orders-scale-999999998888",
        "namespace": "dbaas-team",
        "labels": {
            "app.kubernetes.io/managed-by": "dbaas",
            "dbaas.io/project": "team",
            "dbaas.io/database-id": str(DB_ID),
            "dbaas.io/operation-id": str(OP_ID),
            "dbaas.io/operation-type": "scale",
        },
    }
    assert obj["spec"] == {
        "type": "HorizontalScaling",
        "databaseRef": {"name": "orders"},
        "timeout": "10m",
        "apply": "IfReady",
        "horizontalScaling": {"replicas": 5, "standbyMode": "Hot", "streamingMode": "Asynchronous"},
    }


def test_the_timeout_can_be_chosen() -> None:
    assert ops(spec(), "restart", {}, timeout="30m")["spec"]["timeout"] == "30m"


@pytest.mark.parametrize(
    ("engine", "current", "target", "expected"),
    [
        (
            Engine.POSTGRES,
            1,
            3,
            {"replicas": 3, "standbyMode": "Hot", "streamingMode": "Asynchronous"},
        ),
        (
            Engine.POSTGRES,
            3,
            1,
            {"replicas": 1, "standbyMode": "Hot", "streamingMode": "Asynchronous"},
        ),
        (Engine.MYSQL, 3, 5, {"member": 5}),
        (Engine.MONGODB, 3, 5, {"replicas": 5}),
        (Engine.REDIS, 2, 4, {"replicas": 4}),
    ],
)
def test_horizontal_scaling_per_engine(
    engine: Engine, current: int, target: int, expected: dict[str, Any]
) -> None:
    obj = ops(spec(engine, current), "scale", {"replicas": target})
    assert obj["spec"]["type"] == "HorizontalScaling"
    assert obj["spec"]["horizontalScaling"] == expected


@pytest.mark.parametrize(
    ("engine", "current", "target"),
    [
        (Engine.MYSQL, 1, 3),
        (Engine.MYSQL, 3, 1),
        (Engine.MONGODB, 1, 3),
        (Engine.REDIS, 1, 2),
        (Engine.REDIS, 2, 6),
        (Engine.POSTGRES, 1, 10),
    ],
)
def test_scaling_that_kubedb_cannot_do_is_not_rendered(
    engine: Engine, current: int, target: int
) -> None:
    with pytest.raises(ValueError, match="cannot scale"):
        ops(spec(engine, current), "scale", {"replicas": target})


@pytest.mark.parametrize(
    ("engine", "replicas", "component"),
    [
        (Engine.POSTGRES, 1, "postgres"),
        (Engine.POSTGRES, 3, "postgres"),
        (Engine.MYSQL, 3, "mysql"),
        (Engine.MONGODB, 1, "standalone"),
        (Engine.MONGODB, 3, "replicaSet"),
        (Engine.REDIS, 3, "redis"),
    ],
)
def test_vertical_scaling_targets_the_main_container_or_mongodb_component(
    engine: Engine, replicas: int, component: str
) -> None:
    obj = ops(spec(engine, replicas), "resize", {"cpu": "2", "memory": "4Gi"})
    assert obj["spec"]["type"] == "VerticalScaling"
    assert obj["spec"]["verticalScaling"] == {
        component: {
            "resources": {
                "requests": {"cpu": "2", "memory": "4Gi"},
                "limits": {"memory": "4Gi"},
            }
        }
    }


@pytest.mark.parametrize(
    ("engine", "version", "cpu", "memory"),
    [
        (Engine.POSTGRES, "16.4", "500m", "1024Mi"),
        (Engine.MYSQL, "8.4.3", "500m", "1024Mi"),
        (Engine.REDIS, "7.4.1", "500m", "1024Mi"),
        (Engine.MONGODB, "5.0.31", "500m", "1024Mi"),
        (Engine.MONGODB, "percona-4.4.26", "500m", "1024Mi"),
        (Engine.MONGODB, "6.0.24", "800m", "1024Mi"),
        (Engine.MONGODB, "7.0.21", "800m", "1024Mi"),
        (Engine.MONGODB, "8.0.10", "800m", "1536Mi"),
        (Engine.MONGODB, "percona-8.0.4", "800m", "1536Mi"),
    ],
)
def test_removed_resource_settings_are_resized_to_kubedb_defaults(
    engine: Engine, version: str, cpu: str, memory: str
) -> None:
    assert manifests.default_resources(engine, version) == (cpu, memory)
    obj = ops(spec(engine, version=version), "resize", {"cpu": None, "memory": None})
    (component,) = obj["spec"]["verticalScaling"].values()
    assert component["resources"] == {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": memory},
    }


def test_a_resize_keeps_the_given_value_and_defaults_only_the_missing_one() -> None:
    obj = ops(spec(), "resize", {"cpu": "3", "memory": None})
    resources = obj["spec"]["verticalScaling"]["postgres"]["resources"]
    assert resources["requests"] == {"cpu": "3", "memory": "1024Mi"}


@pytest.mark.parametrize(
    ("engine", "replicas", "component"),
    [
        (Engine.POSTGRES, 3, "postgres"),
        (Engine.MYSQL, 1, "mysql"),
        (Engine.MONGODB, 1, "standalone"),
        (Engine.MONGODB, 3, "replicaSet"),
        (Engine.REDIS, 1, "redis"),
    ],
)
def test_volume_expansion_per_engine(engine: Engine, replicas: int, component: str) -> None:
    obj = ops(spec(engine, replicas), "expand", {"storage": "20Gi"})
    assert obj["spec"]["type"] == "VolumeExpansion"
    assert obj["spec"]["volumeExpansion"] == {"mode": "Online", component: "20Gi"}
    offline = ops(
        spec(engine, replicas), "expand", {"storage": "20Gi"}, volume_expansion_mode="Offline"
    )
    assert offline["spec"]["volumeExpansion"]["mode"] == "Offline"


def test_an_unknown_volume_expansion_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        ops(spec(), "expand", {"storage": "20Gi"}, volume_expansion_mode="online")


@pytest.mark.parametrize("engine", list(Engine))
def test_update_version_names_the_target(engine: Engine) -> None:
    obj = ops(spec(engine), "upgrade", {"version": "9.9.9"})
    assert obj["spec"]["type"] == "UpdateVersion"
    assert obj["spec"]["updateVersion"] == {"targetVersion": "9.9.9"}
    assert obj["spec"]["apply"] == "IfReady"


@pytest.mark.parametrize("engine", list(Engine))
def test_restart_applies_always(engine: Engine) -> None:
    obj = ops(spec(engine), OperationType.RESTART, {})
    assert obj["spec"]["type"] == "Restart"
    assert obj["spec"]["restart"] == {}
    assert obj["spec"]["apply"] == "Always"


@pytest.mark.parametrize("op_type", ["create", "delete", "configure"])
def test_operations_without_an_ops_request_are_not_rendered_as_one(op_type: str) -> None:
    with pytest.raises(ValueError, match="not carried out by an OpsRequest"):
        ops(spec(), op_type, {})


def test_an_unknown_operation_type_is_refused() -> None:
    with pytest.raises(ValueError):
        ops(spec(), "reboot", {})


@pytest.mark.parametrize(
    ("op_type", "params"),
    [
        ("scale", {}),
        ("scale", {"replicas": "3"}),
        ("scale", {"replicas": True}),
        ("expand", {"storage": None}),
        ("expand", {}),
        ("upgrade", {"version": ""}),
        ("resize", {"cpu": 2}),
    ],
)
def test_malformed_params_are_refused(op_type: str, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="params"):
        ops(spec(replicas=2), op_type, params)


def test_rendering_does_not_share_or_mutate_inputs() -> None:
    value = spec(cpu="1", memory="1Gi")
    params = {"cpu": "2", "memory": "2Gi"}
    before = copy.deepcopy(params)
    first = ops(value, "resize", params)
    first["spec"]["verticalScaling"]["postgres"]["resources"]["requests"]["cpu"] = "99"
    assert params == before
    assert (
        ops(value, "resize", params)["spec"]["verticalScaling"]["postgres"]["resources"][
            "requests"
        ]["cpu"]
        == "2"
    )


def test_a_configure_patch_sets_only_the_deletion_policy() -> None:
    assert manifests.render_configure_patch({"deletion_policy": "Halt"}) == {
        "spec": {"deletionPolicy": "Halt"}
    }
    with pytest.raises(ValueError):
        manifests.render_configure_patch({"deletion_policy": "Forever"})


# -- reading a live CR back --------------------------------------------------------------


@pytest.mark.parametrize("engine", list(Engine))
@pytest.mark.parametrize(
    "resources", [{}, {"cpu": "750m"}, {"memory": "3Gi"}, {"cpu": "2", "memory": "8Gi"}]
)
def test_reading_a_rendered_cr_gives_back_the_spec(
    engine: Engine, resources: dict[str, str]
) -> None:
    for replicas in (1, REPLICATED[engine]):
        value = spec(engine, replicas, deletion_policy="DoNotTerminate", **resources)
        observed = manifests.observed_spec_from_cr(engine, database(value))
        assert observed == manifests.desired_observed_spec(value)
        assert observed["replicas"] == replicas


def test_observed_values_come_from_the_live_cr_as_kubedb_wrote_them() -> None:
    cr = database(spec(Engine.MYSQL, 3, cpu="500m"))
    cr["spec"]["replicas"] = 5
    cr["spec"]["storage"]["resources"]["requests"]["storage"] = 21474836480
    containers = cr["spec"]["podTemplate"]["spec"]["containers"]
    containers.insert(0, {"name": "mysql-coordinator", "resources": {"requests": {"cpu": "9"}}})
    containers[1]["resources"]["requests"] = {"cpu": "0.7", "memory": "1200Mi"}
    observed = manifests.observed_spec_from_cr("mysql", cr)
    assert observed == {
        "version": "8.4.3",
        "replicas": 5,
        "storage": "21474836480",
        "cpu": "0.7",
        "memory": "1200Mi",
        "deletion_policy": "Delete",
        "topology": "replicated",
    }


def test_missing_fields_read_as_kubedb_defaults() -> None:
    assert manifests.observed_spec_from_cr(Engine.POSTGRES, {"spec": {"version": "16.4"}}) == {
        "version": "16.4",
        "replicas": 1,
        "storage": None,
        "cpu": None,
        "memory": None,
        "deletion_policy": "Delete",
        "topology": "standalone",
    }
    group = {"spec": {"topology": {"mode": "GroupReplication"}}}
    assert manifests.observed_spec_from_cr(Engine.MYSQL, group)["replicas"] == 3
    cluster = {"spec": {"mode": "Cluster"}}
    assert manifests.observed_spec_from_cr(Engine.REDIS, cluster)["replicas"] == 2


@pytest.mark.parametrize(
    ("engine", "cr_spec", "topology"),
    [
        (Engine.MONGODB, {"shardTopology": {"shard": {"shards": 2, "replicas": 3}}}, "sharded"),
        (Engine.REDIS, {"mode": "Sentinel", "replicas": 3}, "Sentinel"),
        (Engine.MYSQL, {"topology": {"mode": "InnoDBCluster"}, "replicas": 3}, "InnoDBCluster"),
        (Engine.POSTGRES, {"replicas": 4}, "replicated"),
    ],
)
def test_shapes_we_never_create_are_reported_by_their_own_name(
    engine: Engine, cr_spec: dict[str, Any], topology: str
) -> None:
    assert manifests.observed_spec_from_cr(engine, {"spec": cr_spec})["topology"] == topology


@pytest.mark.parametrize("cr", [{}, {"spec": None}, {"spec": []}, {"spec": {"podTemplate": 3}}])
def test_a_malformed_cr_is_read_without_crashing(cr: dict[str, Any]) -> None:
    observed = manifests.observed_spec_from_cr(Engine.REDIS, cr)
    assert observed["replicas"] == 1
    assert observed["cpu"] is None
