"""The simulated KubeStash operator through the official client: each lifecycle step and
fault, with the phases, conditions and labels of KUBESTASH-API.md."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from services.domain import backup_manifests as bm
from services.domain import backup_readings as readings
from services.domain import manifests
from services.domain.backup_readings import RestoreOutcome
from services.domain.backups import BackupPolicy, BackupState, Retention
from services.domain.specs import DatabaseSpec
from services.sim import schemapack, schemas
from tests.sim.kube import NS, Kube, conditions, postgres

STORAGE = "storage.kubestash.com"
CORE = "core.kubestash.com"
V = "v1alpha1"
DB_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
SOURCE = DatabaseSpec(name="orders", engine="postgres", version="16.4", replicas=1, storage="1Gi")


def create(kube: Kube, group: str, plural: str, body: dict[str, Any], ns: str = NS) -> Any:
    return kube.custom.create_namespaced_custom_object(group, V, ns, plural, body)


def get(kube: Kube, group: str, plural: str, name: str, ns: str = NS) -> dict[str, Any]:
    result: dict[str, Any] = kube.custom.get_namespaced_custom_object(group, V, ns, plural, name)
    return result


def items(kube: Kube, group: str, plural: str, **kwargs: Any) -> list[dict[str, Any]]:
    listed = kube.custom.list_namespaced_custom_object(group, V, NS, plural, **kwargs)
    return list(listed["items"])


def phase_of(obj: dict[str, Any]) -> str | None:
    return (obj.get("status") or {}).get("phase")


def wait_phase(
    kube: Kube, group: str, plural: str, name: str, phase: str, timeout: float = 15.0
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get(kube, group, plural, name)
        return obj if phase_of(obj) == phase else None

    return kube.sim.wait_for(probe, timeout=timeout)


def storage(kube: Kube) -> None:
    create(
        kube,
        STORAGE,
        "backupstorages",
        {
            "apiVersion": f"{STORAGE}/{V}",
            "kind": "BackupStorage",
            "metadata": {"name": "local"},
            "spec": {
                "storage": {"provider": "s3", "s3": {"bucket": "b", "endpoint": "http://m:9000"}},
                "usagePolicy": {"allowedNamespaces": {"from": "All"}},
                "deletionPolicy": "Delete",
            },
        },
    )


def backed_up_database(
    kube: Kube, policy: BackupPolicy | None = None, *, name: str = "orders"
) -> bm.BackupNames:
    """A Ready Postgres with storage, RetentionPolicy and BackupConfiguration as dbaas renders
    them; returns its names once the BackupConfiguration is Ready."""
    spec = DatabaseSpec(name=name, engine="postgres", version="16.4", replicas=1, storage="1Gi")
    names = bm.names_for(spec, namespace=NS, database_id=DB_ID)
    storage(kube)
    kube.ready_db(postgres(name))
    retention = policy.retention if policy else Retention()
    create(
        kube,
        STORAGE,
        "retentionpolicies",
        bm.render_retention_policy(retention, names, project_id="p"),
    )
    bc = bm.render_backup_configuration(
        spec, policy, names, storage=bm.ObjectRef(NS, "local"), project_id="p"
    )
    create(kube, CORE, "backupconfigurations", bc)
    wait_phase(kube, CORE, "backupconfigurations", names.backup_configuration, "Ready")
    return names


def snapshots_of(kube: Kube, names: bm.BackupNames) -> list[dict[str, Any]]:
    selector = bm.snapshot_selector(SOURCE, namespace=NS)
    return [
        s
        for s in items(kube, STORAGE, "snapshots", label_selector=selector)
        if s["metadata"]["labels"][bm.LABEL_REPO_NAME] == names.repository
    ]


def on_demand(kube: Kube, names: bm.BackupNames) -> str:
    body = bm.render_backup_session(names, operation_id=uuid.uuid4(), project_id="p")
    create(kube, CORE, "backupsessions", body)
    return str(body["metadata"]["name"])


def test_kubedbs_addons_and_functions_are_preloaded(kube: Kube) -> None:
    addons = kube.custom.list_cluster_custom_object("addons.kubestash.com", V, "addons")["items"]
    assert sorted(a["metadata"]["name"] for a in addons) == [
        "mongodb-addon",
        "mysql-addon",
        "postgres-addon",
        "redis-addon",
    ]
    functions = kube.custom.list_cluster_custom_object("addons.kubestash.com", V, "functions")
    names = {f["metadata"]["name"] for f in functions["items"]}
    assert {"postgres-backup", "postgres-restore", "redis-backup", "mysql-restore"} <= names
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(kube.sim.kubeconfig), "get", "addons", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "addon.addons.kubestash.com/postgres-addon" in out


def test_objects_are_validated_against_the_real_crds(kube: Kube) -> None:
    bad = {
        "apiVersion": f"{STORAGE}/{V}",
        "kind": "RetentionPolicy",
        "metadata": {"name": "x"},
        "spec": {"failedSnapshots": {"last": "many"}},
    }
    with pytest.raises(ApiException) as caught:
        create(kube, STORAGE, "retentionpolicies", bad)
    assert caught.value.status == 422


def test_a_backup_configuration_becomes_ready_and_backs_up_at_once(kube: Kube) -> None:
    names = backed_up_database(kube, BackupPolicy("0 2 * * *", Retention(5, "30d")))
    bc = get(kube, CORE, "backupconfigurations", names.backup_configuration)
    assert bc["status"]["targetFound"] is True
    assert bc["status"]["backends"][0]["ready"] is True
    session = bc["status"]["sessions"][0]
    assert conditions({"status": session})["SchedulerEnsured"] == "True"
    assert session["nextSchedule"].endswith("T02:00:00Z")
    repo = get(kube, STORAGE, "repositories", names.repository)
    assert repo["spec"]["path"] == names.directory
    assert repo["spec"]["appRef"]["name"] == "orders"

    # KubeStash triggers one backup as soon as the configuration is Ready (§5.4).
    snapshot = kube.sim.wait_for(
        lambda: next((s for s in snapshots_of(kube, names) if phase_of(s) == "Succeeded"), None)
    )
    labels = snapshot["metadata"]["labels"]
    assert labels == {
        "kubestash.com/app-ref-kind": "Postgres",
        "kubestash.com/app-ref-name": "orders",
        "kubestash.com/app-ref-namespace": NS,
        "kubestash.com/repo-name": names.repository,
    }
    assert snapshot["metadata"]["annotations"]["kubedb.com/db-version"] == "16.4"
    assert snapshot["metadata"]["ownerReferences"][0]["kind"] == "Repository"
    assert snapshot["status"]["components"]["dump"]["phase"] == "Succeeded"
    assert snapshot["status"]["size"].endswith("MiB")
    session_name = snapshot["spec"]["backupSession"]
    finished = wait_phase(kube, CORE, "backupsessions", session_name, "Succeeded")
    assert finished["status"]["snapshots"][0]["name"] == snapshot["metadata"]["name"]
    assert finished["status"]["retentionPolicy"][0]["phase"] == "Applied"
    assert conditions(finished)["MetricsPushed"] == "True"
    seen = readings.observe_backup(finished, {snapshot["metadata"]["name"]: snapshot})
    assert seen.state is BackupState.SUCCEEDED
    assert seen.size_bytes == readings.parse_size(snapshot["status"]["size"]) > 0
    repo = kube.sim.wait_for(
        lambda: (
            (r := get(kube, STORAGE, "repositories", names.repository))["status"].get(
                "lastBackupTime"
            )
            and r
        )
    )
    assert repo["status"]["phase"] == "Ready" and repo["status"]["snapshotCount"] == 1


def test_schedules_run_on_the_fast_clock_and_retention_keeps_the_last_n(kube: Kube) -> None:
    names = backed_up_database(kube, BackupPolicy("0 * * * *", Retention(2, None)))
    kube.sim.set_faults(kubestash={"clock_speed": 7200})  # two hourly runs per second

    def sessions_seen() -> set[str]:
        return {s["spec"]["backupSession"] for s in snapshots_of(kube, names)}

    seen: set[str] = set()

    def enough() -> bool:
        seen.update(sessions_seen())
        return len(seen) >= 5

    kube.sim.wait_for(enough, timeout=30)
    kube.sim.set_faults(kubestash={"clock_speed": 1})
    # Names end in the scheduled unix time: whole hours on the simulated clock.
    scheduled = [int(s.rsplit("-", 1)[1]) for s in seen]
    assert sum(1 for t in scheduled if t % 3600 == 0) >= 4

    def trimmed() -> list[dict[str, Any]] | None:
        done = [s for s in snapshots_of(kube, names) if phase_of(s) in ("Running", "Succeeded")]
        running = any(phase_of(s) == "Running" for s in done)
        return done if not running and len(done) == 2 else None

    kept = kube.sim.wait_for(trimmed, timeout=15)
    newest = sorted(seen, key=lambda s: int(s.rsplit("-", 1)[1]))[-2:]
    assert sorted(s["spec"]["backupSession"] for s in kept) == sorted(newest)


def test_a_failing_backup_fails_its_session_and_snapshot(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    kube.sim.set_faults(
        kubestash={
            "backups": [
                {"mode": "fail", "reason": "disk quota exceeded", "database": f"{NS}/orders"}
            ]
        }
    )
    name = on_demand(kube, names)
    failed = wait_phase(kube, CORE, "backupsessions", name, "Failed")
    snapshot = get(kube, STORAGE, "snapshots", failed["status"]["snapshots"][0]["name"])
    assert phase_of(snapshot) == "Failed"
    assert snapshot["status"]["components"]["dump"]["error"] == "disk quota exceeded"
    seen = readings.observe_backup(failed, {snapshot["metadata"]["name"]: snapshot})
    assert (seen.state, seen.error) == (BackupState.FAILED, "disk quota exceeded")


def test_a_failed_retention_fails_the_session_while_the_snapshot_succeeds(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    kube.sim.set_faults(kubestash={"backups": [{"mode": "fail-retention", "reason": "gone"}]})
    name = on_demand(kube, names)
    failed = wait_phase(kube, CORE, "backupsessions", name, "Failed")
    assert failed["status"]["retentionPolicy"][0] == {
        "ref": {"name": names.retention_policy, "namespace": NS},
        "repository": names.repository,
        "phase": "FailedToApply",
        "error": "gone",
    }
    snapshot = get(kube, STORAGE, "snapshots", failed["status"]["snapshots"][0]["name"])
    assert phase_of(snapshot) == "Succeeded"
    # The backup succeeded: its Snapshot is restorable although the session failed.
    seen = readings.observe_backup(failed, {snapshot["metadata"]["name"]: snapshot})
    assert seen.state is BackupState.SUCCEEDED


def test_a_hanging_backup_stays_running_and_the_next_one_is_skipped(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    kube.sim.set_faults(kubestash={"backups": [{"mode": "hang"}]})
    hanging = on_demand(kube, names)
    wait_phase(kube, CORE, "backupsessions", hanging, "Running")
    skipped = wait_phase(kube, CORE, "backupsessions", on_demand(kube, names), "Skipped")
    assert skipped["status"]["conditions"][0]["reason"] == "PreRequisitesNotSatisfied"
    running = get(kube, CORE, "backupsessions", hanging)
    assert phase_of(running) == "Running"
    snapshot = get(kube, STORAGE, "snapshots", running["status"]["snapshots"][0]["name"])
    assert readings.observe_backup(running, {snapshot["metadata"]["name"]: snapshot}).state is (
        BackupState.RUNNING
    )
    seen = readings.observe_backup(skipped, {})
    assert seen.state is BackupState.FAILED and "another backup was running" in str(seen.error)


def restore_into_new_database(
    kube: Kube, names: bm.BackupNames, *, snapshot: str = "latest"
) -> str:
    target = DatabaseSpec(name="copy", engine="postgres", version="16.4", replicas=1, storage="1Gi")
    body = bm.with_initial_restore(postgres("copy"))
    kube.create_db(body)
    kube.wait_db_phase("copy", "Provisioning")
    restore = bm.render_restore_session(
        target,
        names,
        namespace=NS,
        target_id=uuid.uuid4(),
        snapshot=snapshot,
        operation_id=uuid.uuid4(),
        project_id="p",
    )
    create(kube, CORE, "restoresessions", restore)
    return str(restore["metadata"]["name"])


def test_a_restore_into_a_waiting_database_makes_it_ready(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    restore = restore_into_new_database(kube, names)
    done = wait_phase(kube, CORE, "restoresessions", restore, "Succeeded")
    assert done["status"]["components"]["dump"]["phase"] == "Succeeded"
    assert conditions(done)["ValidationPassed"] == "True"
    db = kube.wait_db_phase("copy", "Ready")
    restored = next(c for c in db["status"]["conditions"] if c["type"] == "DataRestored")
    assert (restored["status"], restored["reason"]) == ("True", "SuccessfullyDataRestored")
    assert "DataRestoreStarted" not in conditions(db)
    assert readings.restore_outcome(db) == (RestoreOutcome.RESTORED, None)


def test_a_waiting_database_stays_provisioning_then_restoring(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    kube.sim.set_faults(kubestash={"restores": [{"mode": "hang"}]})
    restore = restore_into_new_database(kube, names)
    wait_phase(kube, CORE, "restoresessions", restore, "Running")
    db = kube.wait_db_phase("copy", "DataRestoring")
    assert readings.restore_outcome(db)[0] is RestoreOutcome.RESTORING
    started = next(c for c in db["status"]["conditions"] if c["type"] == "DataRestoreStarted")
    assert (started["status"], started["reason"]) == (
        "True",
        "DataRestoreStartedByExternalInitializer",
    )
    # Deleted before it finished: KubeDB reports the restore as interrupted.
    kube.custom.delete_namespaced_custom_object(CORE, V, NS, "restoresessions", restore)
    db = kube.wait_db_phase("copy", "NotReady")
    restored = next(c for c in db["status"]["conditions"] if c["type"] == "DataRestored")
    assert (restored["status"], restored["reason"]) == ("False", "DataRestoreInterrupted")


def test_a_failing_restore_leaves_the_database_not_ready(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    kube.sim.set_faults(kubestash={"restores": [{"mode": "fail", "reason": "bad dump"}]})
    restore = restore_into_new_database(kube, names)
    failed = wait_phase(kube, CORE, "restoresessions", restore, "Failed")
    assert failed["status"]["components"]["dump"]["error"] == "bad dump"
    db = kube.wait_db_phase("copy", "NotReady")
    restored = next(c for c in db["status"]["conditions"] if c["type"] == "DataRestored")
    assert (restored["status"], restored["reason"]) == ("False", "FailedToRestoreData")
    assert readings.restore_outcome(db)[0] is RestoreOutcome.FAILED


def test_a_restore_of_a_missing_snapshot_is_invalid(kube: Kube) -> None:
    names = backed_up_database(kube)
    restore = restore_into_new_database(kube, names, snapshot="no-such-snapshot")
    invalid = wait_phase(kube, CORE, "restoresessions", restore, "Invalid")
    assert conditions(invalid)["ValidationPassed"] == "False"
    assert "no-such-snapshot" in invalid["status"]["conditions"][0]["message"]


def test_the_bad_fault_documents_are_refused_whole(kube: Kube) -> None:
    from tests.fixtures_sim import SimAdminError

    for document in ({"backups": [{"mode": "explode"}]}, {"clock_speed": 0}, {"x": 1}):
        with pytest.raises(SimAdminError) as caught:
            kube.sim.set_faults(kubestash=document)
        assert caught.value.code == 400
    assert kube.sim.admin("GET", "/sim/faults")["kubestash"]["clock_speed"] == 1.0


def test_what_the_operator_writes_validates_against_the_crds(kube: Kube) -> None:
    names = backed_up_database(kube)
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))
    restore = restore_into_new_database(kube, names)
    wait_phase(kube, CORE, "restoresessions", restore, "Succeeded")
    registry = schemas.SchemaRegistry(schemapack.load("kubestash"))
    checked: set[str] = set()
    for group, plural in [
        (STORAGE, "backupstorages"),
        (STORAGE, "repositories"),
        (STORAGE, "snapshots"),
        (CORE, "backupconfigurations"),
        (CORE, "backupsessions"),
        (CORE, "restoresessions"),
    ]:
        for obj in items(kube, group, plural):
            _, causes = registry.validate(obj, strict=True)
            assert causes == [], f"{plural}/{obj['metadata']['name']}: {causes}"
            checked.add(plural)
    assert len(checked) == 6  # every kind the operator writes status on was there


def test_the_catalog_pack_matches_kubedbs_addons() -> None:
    from services.sim.kubestash import generate

    shared = (
        os.environ.get("DBAAS_SHARED_DIR") or Path(__file__).resolve().parents[2].parent / "shared"
    )
    catalog_dir = Path(shared) / "kubestash" / "catalog"
    if not catalog_dir.is_dir():
        pytest.skip(f"KubeDB's KubeStash catalog not found at {catalog_dir}")
    assert generate.encode(generate.build(catalog_dir)) == generate.PACK.read_bytes()


# -- archivers (PITR) ------------------------------------------------------------------

ARCHIVER = "archiver.kubedb.com"


def archived_database(kube: Kube) -> bm.BackupNames:
    """Postgres `orders` archived by its PostgresArchiver, as dbaas renders them."""
    names = bm.names_for(SOURCE, namespace=NS, database_id=DB_ID)
    policy = BackupPolicy("0 2 * * *", Retention(5, None), pitr=True)
    storage(kube)
    create(
        kube,
        STORAGE,
        "retentionpolicies",
        bm.render_retention_policy(policy.retention, names, project_id="p"),
    )
    archiver = bm.render_archiver(
        SOURCE, policy, names, storage=bm.ObjectRef(NS, "local"), project_id="p"
    )
    create(kube, ARCHIVER, "postgresarchivers", archiver)
    db = manifests.render_database(
        SOURCE, namespace=NS, database_id=DB_ID, project_id="p", generation=1
    )
    db["spec"].update(bm.archiver_patch(names)["spec"])
    kube.ready_db(db)
    return names


def window_of(kube: Kube, db: str) -> tuple[str, str] | None:
    """(earliest, latest) as a client computes it: the oldest Succeeded full Snapshot's
    time, the incremental Snapshot's logStats.end."""
    full = [
        s
        for s in items(kube, STORAGE, "snapshots", label_selector=f"{bm.LABEL_REPO_NAME}={db}-full")
    ]
    times = [
        s["status"]["snapshotTime"]
        for s in full
        if s["spec"]["type"] == "FullBackup" and phase_of(s) == "Succeeded"
    ]
    ends = [
        s["status"]["components"]["wal"]["logStats"]["end"]
        for s in full
        if s["spec"]["type"] == "IncrementalBackup" and s.get("status")
    ]
    if not times or not ends:
        return None
    return min(times), ends[0]


def test_an_archived_database_is_backed_up_and_its_window_grows(kube: Kube) -> None:
    names = archived_database(kube)
    bc = wait_phase(kube, CORE, "backupconfigurations", "orders-archiver", "Ready")
    assert [s["name"] for s in bc["spec"]["sessions"]] == ["full-backup", "manifest-backup"]
    assert bc["spec"]["sessions"][0]["addon"] == {
        "name": "postgres-addon",
        "tasks": [{"name": "physical-backup"}],
    }
    for repo in ("orders-full", "orders-manifest"):
        assert get(kube, STORAGE, "repositories", repo)["spec"]["appRef"]["name"] == "orders"
    refs = kube.sim.wait_for(
        lambda: (
            get(kube, ARCHIVER, "postgresarchivers", names.archiver)
            .get("status", {})
            .get("databaseRefs")
        )
    )
    assert refs == [{"name": "orders", "namespace": NS}]
    first = kube.sim.wait_for(lambda: window_of(kube, "orders"))
    later = kube.sim.wait_for(
        lambda: (w := window_of(kube, "orders")) is not None and w[1] > first[1] and w
    )
    assert later[0] == first[0] and first[0] <= first[1]
    full = items(kube, STORAGE, "snapshots", label_selector=f"{bm.LABEL_REPO_NAME}=orders-full")
    window = readings.restorable_window(full)
    assert window is not None and window[0] == readings.parse_time(later[0])
    assert window[1] >= readings.parse_time(later[1])


def recover(kube: Kube, names: bm.BackupNames, when: str) -> None:
    import datetime

    target = DatabaseSpec(name="copy", engine="postgres", version="16.4", replicas=1, storage="1Gi")
    db = manifests.render_database(
        target, namespace=NS, database_id=uuid.uuid4(), project_id="p", generation=1
    )
    moment = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    kube.create_db(bm.with_point_in_time_restore(db, names, recovery_time=moment))


def test_point_in_time_recovery_inside_the_window_makes_a_ready_database(kube: Kube) -> None:
    names = archived_database(kube)
    _, latest = kube.sim.wait_for(lambda: window_of(kube, "orders"))
    recover(kube, names, latest)
    db = kube.wait_db_phase("copy", "Ready")
    restored = next(c for c in db["status"]["conditions"] if c["type"] == "DataRestored")
    assert (restored["status"], restored["reason"]) == ("True", "SuccessfullyDataRestored")


def test_point_in_time_recovery_outside_the_window_fails_naming_it(kube: Kube) -> None:
    names = archived_database(kube)
    earliest, _ = kube.sim.wait_for(lambda: window_of(kube, "orders"))
    recover(kube, names, "2001-01-01T00:00:00Z")
    db = kube.wait_db_phase("copy", "NotReady")
    restored = next(c for c in db["status"]["conditions"] if c["type"] == "DataRestored")
    assert (restored["status"], restored["reason"]) == ("False", "FailedToRestoreData")
    assert "outside the archived window [" + earliest in restored["message"]


def test_kubestash_objects_survive_a_restart_and_running_backups_resume(tmp_path: Path) -> None:
    from tests.fixtures_sim import SimCluster, start_server, stop_server

    state = tmp_path / "sim-state.json"
    (tmp_path / "one").mkdir()
    first = start_server(tmp_path / "one", tmp_path / "cache", "--state", str(state))
    try:
        kube = Kube(SimCluster(first))
        kube.namespace()
        names = backed_up_database(kube)
        snapshot = kube.sim.wait_for(
            lambda: next((s for s in snapshots_of(kube, names) if phase_of(s) == "Succeeded"), None)
        )
        kube.sim.set_faults(kubestash={"backups": [{"mode": "hang"}]})
        hanging = on_demand(kube, names)
        wait_phase(kube, CORE, "backupsessions", hanging, "Running")
    finally:
        assert stop_server(first) == 0

    (tmp_path / "two").mkdir()
    second = start_server(tmp_path / "two", tmp_path / "cache", "--state", str(state))
    try:
        kube = Kube(SimCluster(second))
        kept = get(kube, STORAGE, "snapshots", snapshot["metadata"]["name"])
        assert kept["metadata"]["uid"] == snapshot["metadata"]["uid"]
        assert phase_of(get(kube, CORE, "backupconfigurations", names.backup_configuration)) == (
            "Ready"
        )
        # The hang lived in memory only: after the restart the backup runs to its end.
        done = wait_phase(kube, CORE, "backupsessions", hanging, "Succeeded")
        assert done["status"]["snapshots"][0]["phase"] == "Succeeded"
        out = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(second.kubeconfig),
                "get",
                "backupsessions",
                "-n",
                NS,
                "-o",
                "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        phases = dict(line.split() for line in out.splitlines()[1:])
        assert phases[hanging] == "Succeeded"
        addons = kube.custom.list_cluster_custom_object("addons.kubestash.com", V, "addons")
        assert len(addons["items"]) == 4  # preloaded from code, not from the state file
    finally:
        assert stop_server(second) == 0


def test_kubestash_faults_are_set_from_the_command_line(kube: Kube) -> None:
    import json
    import sys

    from tests.fixtures_sim import REPO

    def dbaas_sim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "sim",
                "faults",
                "--server",
                kube.sim.url,
                *args,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = dbaas_sim("--kubestash", '{"clock_speed": 60, "backups": [{"mode": "hang"}]}')
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)["kubestash"]
    assert document["clock_speed"] == 60.0
    assert document["backups"] == [
        {"mode": "hang", "reason": "injected failure", "database": None, "count": 1}
    ]
    refused = dbaas_sim("--kubestash", "{not json")
    assert refused.returncode != 0 and "--kubestash is not JSON" in refused.stderr


def test_a_configuration_waits_not_ready_until_its_database_exists(kube: Kube) -> None:
    names = bm.names_for(SOURCE, namespace=NS, database_id=DB_ID)
    storage(kube)
    create(
        kube,
        STORAGE,
        "retentionpolicies",
        bm.render_retention_policy(Retention(), names, project_id="p"),
    )
    create(
        kube,
        CORE,
        "backupconfigurations",
        bm.render_backup_configuration(
            SOURCE, None, names, storage=bm.ObjectRef(NS, "local"), project_id="p"
        ),
    )
    waiting = wait_phase(kube, CORE, "backupconfigurations", names.backup_configuration, "NotReady")
    assert waiting["status"]["targetFound"] is False
    assert waiting["status"]["repositories"] == [{"name": names.repository, "phase": "NotReady"}]
    kube.ready_db(postgres("orders"))
    ready = wait_phase(kube, CORE, "backupconfigurations", names.backup_configuration, "Ready")
    assert ready["status"]["targetFound"] is True
    # Without a policy the CronJob is suspended, but the first backup still runs (§5.4).
    session = ready["spec"]["sessions"][0]
    assert session["scheduler"]["suspend"] is True
    kube.sim.wait_for(lambda: any(phase_of(s) == "Succeeded" for s in snapshots_of(kube, names)))


def test_the_reverse_index_follows_moves_and_removals() -> None:
    from services.sim.kubestash.indexes import Index

    index = Index()
    index.put(("ns", "a"), ("ns", "repo-1"))
    index.put(("ns", "b"), ("ns", "repo-1"))
    index.put(("ns", "a"), ("ns", "repo-2"))  # a label changed
    assert index.keys(("ns", "repo-1")) == [("ns", "b")]
    assert index.keys(("ns", "repo-2")) == [("ns", "a")]
    index.put(("ns", "b"), None)  # deleted
    assert index.keys(("ns", "repo-1")) == [] and len(index) == 1
