"""Every KubeStash object the domain renders is accepted by the real CRDs, strictly, and
agrees with the facts: KubeDB's addon catalog, KubeStash's labels, name limits.

The CRDs and addons from ../shared (or DBAAS_KUBESTASH_DIR / DBAAS_KUBEDB_DIR) when present,
else what the sim ships, generated from them (test_schemapack and test_kubestash compare).
"""

from __future__ import annotations

import datetime
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.domain import backup_manifests, backups, engines, manifests, naming
from services.domain.backup_manifests import STASH, BackupNames, ObjectRef
from services.domain.backups import BackupPolicy, Retention
from services.domain.engines import Engine
from services.domain.specs import DatabaseSpec
from services.sim import schemapack, schemas
from services.sim.kubestash import catalog as kubestash_catalog

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
KUBESTASH_DIR = Path(os.environ.get("DBAAS_KUBESTASH_DIR") or SHARED / "kubestash")
KUBEDB_DIR = Path(os.environ.get("DBAAS_KUBEDB_DIR") or SHARED / "kubedb")

DB_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
SOURCE_ID = uuid.UUID("66666666-2222-3333-4444-555555555555")
OP_ID = uuid.UUID("ffffffff-ffff-7777-6666-555555555555")
PROJECT = "p" * 40
NAMESPACE = naming.project_namespace(PROJECT)
STORAGE = ObjectRef("dbaas-backup", "s3-primary")
LONGEST_NAME = "d" * naming.MAX_NAME_LENGTH
VERSIONS = {
    Engine.POSTGRES: "16.4",
    Engine.MYSQL: "8.4.3",
    Engine.MONGODB: "8.0.10",
    Engine.REDIS: "7.4.1",
}
POLICIES = [
    None,
    BackupPolicy("0 2 * * *"),
    BackupPolicy("@daily", Retention(30, None)),
    BackupPolicy("*/30 * * * *", Retention(None, "6mo"), pitr=True),
]


def spec(engine: Engine, name: str = LONGEST_NAME) -> DatabaseSpec:
    return DatabaseSpec(
        name=name, engine=engine, version=VERSIONS[engine], replicas=1, storage="10Gi"
    )


def names(engine: Engine, name: str = LONGEST_NAME, db_id: uuid.UUID = DB_ID) -> BackupNames:
    return backup_manifests.names_for(spec(engine, name), namespace=NAMESPACE, database_id=db_id)


@pytest.fixture(scope="module")
def kubestash() -> schemas.SchemaRegistry:
    crds = KUBESTASH_DIR / "crds"
    if not crds.is_dir():  # a clone without ../shared: the schemas the sim ships
        return schemas.SchemaRegistry(schemapack.load("kubestash"))
    return schemas.SchemaRegistry.load(crds)


@pytest.fixture(scope="module")
def kubedb() -> schemas.SchemaRegistry:
    crds = KUBEDB_DIR / "crds"
    if not crds.is_dir():
        return schemas.SchemaRegistry(schemapack.load("kubedb"))
    return schemas.SchemaRegistry.load(crds)


@pytest.fixture(scope="module")
def addons() -> dict[str, dict[str, Any]]:
    catalog = KUBESTASH_DIR / "catalog"
    if catalog.is_dir():
        loaded = [yaml.safe_load(path.read_text()) for path in sorted(catalog.glob("*.yaml"))]
    else:  # the pack the sim ships (the Addons copied unchanged)
        loaded = [o for o in kubestash_catalog.catalog_objects() if o["kind"] == "Addon"]
    return {addon["metadata"]["name"]: addon for addon in loaded}


def assert_valid(registry: schemas.SchemaRegistry, obj: dict[str, Any]) -> dict[str, Any]:
    stored, causes = registry.validate(obj, strict=True)
    assert causes == [], f"{obj['kind']} {obj['metadata']['name']}: {causes}"
    return stored


def assert_labelled(obj: dict[str, Any], db_id: uuid.UUID = DB_ID) -> None:
    labels = obj["metadata"]["labels"]
    assert labels[manifests.LABEL_MANAGED_BY] == manifests.MANAGED_BY
    assert labels[manifests.LABEL_PROJECT] == PROJECT
    assert labels[manifests.LABEL_DATABASE_ID] == str(db_id)
    assert obj["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("engine", list(Engine))
@pytest.mark.parametrize("policy", POLICIES, ids=["none", "default", "count", "age-pitr"])
def test_retention_policies_and_backup_configurations_validate(
    kubestash: schemas.SchemaRegistry, engine: Engine, policy: BackupPolicy | None
) -> None:
    retention = policy.retention if policy is not None else Retention()
    rp = backup_manifests.render_retention_policy(retention, names(engine), project_id=PROJECT)
    stored_rp = assert_valid(kubestash, rp)
    assert stored_rp["spec"].get("successfulSnapshots", {}).get("last") == retention.keep_last
    assert stored_rp["spec"].get("maxRetentionPeriod") == retention.max_age
    bc = backup_manifests.render_backup_configuration(
        spec(engine), policy, names(engine), storage=STORAGE, project_id=PROJECT
    )
    stored = assert_valid(kubestash, bc)
    for obj in (rp, bc):
        assert_labelled(obj)
    session = stored["spec"]["sessions"][0]
    assert session["scheduler"].get("suspend", False) is (policy is None)
    if policy is not None:
        assert session["scheduler"]["schedule"] == policy.schedule
    assert stored["spec"]["target"] == {
        "apiGroup": "kubedb.com",
        "kind": engines.spec_for(engine).kind,
        "namespace": NAMESPACE,
        "name": LONGEST_NAME,
    }
    backend = stored["spec"]["backends"][0]
    assert backend["storageRef"] == {"name": "s3-primary", "namespace": "dbaas-backup"}
    assert backend["retentionPolicy"] == {"name": rp["metadata"]["name"], "namespace": NAMESPACE}
    repository = session["repositories"][0]
    assert repository["backend"] == backend["name"]
    assert repository["deletionPolicy"] == "Retain"  # snapshots outlive the database


@pytest.mark.parametrize("engine", list(Engine))
def test_addon_and_task_names_exist_in_kubedbs_catalog(
    addons: dict[str, dict[str, Any]], engine: Engine
) -> None:
    facts = STASH[engine]
    addon = addons[facts.addon]
    assert facts.backup_task in {task["name"] for task in addon["spec"]["backupTasks"]}
    assert facts.restore_task in {task["name"] for task in addon["spec"]["restoreTasks"]}
    bc = backup_manifests.render_backup_configuration(
        spec(engine), POLICIES[1], names(engine), storage=STORAGE, project_id=PROJECT
    )
    rendered_addon = bc["spec"]["sessions"][0]["addon"]
    assert rendered_addon == {"name": facts.addon, "tasks": [{"name": facts.backup_task}]}


def test_archivers_exist_exactly_for_the_pitr_engines(kubestash: schemas.SchemaRegistry) -> None:
    with_archiver = {engine for engine, facts in STASH.items() if facts.has_archiver}
    assert with_archiver == backups.PITR_ENGINES
    for engine in with_archiver:
        kind = STASH[engine].archiver_kind
        assert kind is not None
        served = kubestash.lookup(backup_manifests.ARCHIVER_API_VERSION, kind)
        assert served is not None and served.plural == STASH[engine].archiver_plural


def test_backup_sessions_validate_and_are_named_after_the_operation(
    kubestash: schemas.SchemaRegistry,
) -> None:
    for engine in Engine:
        session = backup_manifests.render_backup_session(
            names(engine), operation_id=OP_ID, project_id=PROJECT
        )
        stored = assert_valid(kubestash, session)
        assert_labelled(session)
        name = session["metadata"]["name"]
        bc = names(engine).backup_configuration
        # KubeStash's Snapshot naming splits a BackupSession name at a trailing -<digits>.
        stem, _, digits = name.rpartition("-")
        assert stem == f"{bc}-{backup_manifests.SESSION}" and digits.isdigit()
        assert len(name) <= 253
        assert stored["spec"]["invoker"] == {
            "apiGroup": "core.kubestash.com",
            "kind": "BackupConfiguration",
            "name": bc,
        }
        assert stored["spec"]["session"] == backup_manifests.SESSION
        labels = session["metadata"]["labels"]
        assert labels[manifests.LABEL_OPERATION_ID] == str(OP_ID)
        assert labels[manifests.LABEL_OPERATION_TYPE] == "backup"
    again = backup_manifests.render_backup_session(
        names(Engine.REDIS), operation_id=OP_ID, project_id=PROJECT
    )
    other = backup_manifests.render_backup_session(
        names(Engine.REDIS), operation_id=uuid.uuid4(), project_id=PROJECT
    )
    assert again["metadata"]["name"] == session["metadata"]["name"]
    assert other["metadata"]["name"] != session["metadata"]["name"]


@pytest.mark.parametrize("engine", list(Engine))
@pytest.mark.parametrize("snapshot", ["latest", "orders-repo-orders-backup-logical-1767225600"])
def test_restores_into_a_new_database_validate(
    kubestash: schemas.SchemaRegistry,
    kubedb: schemas.SchemaRegistry,
    engine: Engine,
    snapshot: str,
) -> None:
    source = names(engine, "orders", SOURCE_ID)
    target = spec(engine)
    restore = backup_manifests.render_restore_session(
        target,
        source,
        namespace=NAMESPACE,
        target_id=DB_ID,
        snapshot=snapshot,
        operation_id=OP_ID,
        project_id=PROJECT,
    )
    stored = assert_valid(kubestash, restore)
    assert_labelled(restore)
    assert len(restore["metadata"]["name"]) <= naming.MAX_K8S_NAME
    assert naming.is_dns_label(restore["metadata"]["name"])
    assert stored["spec"]["target"]["name"] == LONGEST_NAME
    assert stored["spec"]["target"]["kind"] == engines.spec_for(engine).kind
    assert stored["spec"]["dataSource"]["repository"] == source.repository
    assert stored["spec"]["dataSource"]["snapshot"] == snapshot
    assert stored["spec"]["dataSource"]["encryptionSecret"]["name"] == source.encryption_secret
    assert stored["spec"]["addon"] == {
        "name": STASH[engine].addon,
        "tasks": [{"name": STASH[engine].restore_task}],
    }
    assert restore["metadata"]["labels"][manifests.LABEL_OPERATION_TYPE] == "restore"
    database = manifests.render_database(
        target, namespace=NAMESPACE, database_id=DB_ID, project_id=PROJECT, generation=1
    )
    waiting = backup_manifests.with_initial_restore(database)
    assert "init" not in database["spec"]  # a copy: the original is untouched
    stored_db = assert_valid(kubedb, waiting)
    assert stored_db["spec"]["init"]["waitForInitialRestore"] is True


def test_a_restore_across_engines_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot restore a mysql backup into postgres"):
        backup_manifests.render_restore_session(
            spec(Engine.POSTGRES),
            names(Engine.MYSQL, "orders", SOURCE_ID),
            namespace=NAMESPACE,
            target_id=DB_ID,
            snapshot="latest",
            operation_id=OP_ID,
            project_id=PROJECT,
        )


@pytest.mark.parametrize("engine", sorted(backups.PITR_ENGINES))
def test_archivers_and_point_in_time_restores_validate(
    kubestash: schemas.SchemaRegistry, kubedb: schemas.SchemaRegistry, engine: Engine
) -> None:
    policy = POLICIES[3]
    archiver = backup_manifests.render_archiver(
        spec(engine), policy, names(engine), storage=STORAGE, project_id=PROJECT
    )
    stored = assert_valid(kubestash, archiver)
    assert_labelled(archiver)
    assert archiver["kind"] == STASH[engine].archiver_kind
    assert stored["spec"]["databases"]["selector"]["matchLabels"] == {
        manifests.LABEL_DATABASE_ID: str(DB_ID)
    }
    assert stored["spec"]["fullBackup"]["scheduler"]["schedule"] == policy.schedule
    assert stored["spec"]["retentionPolicy"]["name"] == names(engine).retention_policy
    database = manifests.render_database(
        spec(engine), namespace=NAMESPACE, database_id=DB_ID, project_id=PROJECT, generation=1
    )
    # The database's own labels are what the archiver's selector matches.
    assert database["metadata"]["labels"][manifests.LABEL_DATABASE_ID] == str(DB_ID)
    patched = {**database, "spec": {**database["spec"], **backup_manifests.archiver_patch(
        names(engine))["spec"]}}  # fmt: skip
    assert_valid(kubedb, patched)

    source = names(engine, "orders", SOURCE_ID)
    when = datetime.datetime(
        2026, 12, 7, 21, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    recovering = backup_manifests.with_point_in_time_restore(database, source, recovery_time=when)
    stored_db = assert_valid(kubedb, recovering)
    init = stored_db["spec"]["init"]["archiver"]
    assert init["recoveryTimestamp"] == "2026-12-07T20:30:00Z"
    assert init["fullDBRepository"] == {"name": "orders-full", "namespace": NAMESPACE}
    assert init["manifestRepository"] == {"name": "orders-manifest", "namespace": NAMESPACE}
    with pytest.raises(ValueError, match="timezone-aware"):
        backup_manifests.with_point_in_time_restore(
            database, source, recovery_time=when.replace(tzinfo=None)
        )


def test_redis_has_no_archiver() -> None:
    with pytest.raises(ValueError, match="redis has no archiver"):
        backup_manifests.render_archiver(
            spec(Engine.REDIS), POLICIES[3], names(Engine.REDIS), storage=STORAGE,
            project_id=PROJECT,
        )  # fmt: skip


def test_encryption_secrets_hold_the_restic_password() -> None:
    secret = backup_manifests.render_encryption_secret(
        names(Engine.POSTGRES), password="s3cret", project_id=PROJECT
    )
    assert_labelled(secret)
    assert secret["stringData"] == {"RESTIC_PASSWORD": "s3cret"}
    with pytest.raises(ValueError, match="must not be empty"):
        backup_manifests.render_encryption_secret(
            names(Engine.POSTGRES), password="", project_id=PROJECT
        )


def test_per_database_names_are_dns_labels_unique_per_database_id() -> None:
    longest = names(Engine.POSTGRES)
    for name in longest.all():
        assert naming.is_dns_label(name), name
    reused = names(Engine.POSTGRES, LONGEST_NAME, SOURCE_ID)
    assert set(longest.all()).isdisjoint(reused.all())
    assert longest.directory != reused.directory
    # KubeDB names the archived Repositories after the database: <db>-full, <db>-manifest.
    assert all(naming.is_dns_label(name) for name in longest.archiver_repositories)


def test_snapshot_selector_uses_kubestash_labels() -> None:
    assert backup_manifests.snapshot_selector(spec(Engine.MYSQL, "orders"), namespace="team-a") == (
        "kubestash.com/app-ref-kind=MySQL,kubestash.com/app-ref-name=orders,"
        "kubestash.com/app-ref-namespace=team-a"
    )


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("dbaas-backup/s3-primary", True),
        ("ns/a.b", True),
        ("s3-primary", False),
        ("/s3", False),
        ("ns/", False),
        ("NS/s3", False),
        ("ns/s3/x", False),
    ],
)
def test_the_backup_storage_setting_is_namespace_slash_name(text: str, ok: bool) -> None:
    if ok:
        ref = backup_manifests.parse_object_ref(text)
        assert str(ref) == text
    else:
        with pytest.raises(ValueError, match="is not namespace/name"):
            backup_manifests.parse_object_ref(text)
