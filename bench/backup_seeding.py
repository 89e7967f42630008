"""Bulk backups for the benchmarks: per seeded database, what KubeStash would hold after a
month of daily backups (its BackupConfiguration, Repository, Secret and RetentionPolicy,
`SNAPSHOTS` Snapshots and the last `SESSIONS` BackupSessions), in the simulated cluster
and as `backups` rows in PostgreSQL, made in seconds instead of hours.

How: one database gets its objects the real way (rendered by the worker's
`backup_manifests`, applied to the sim, whose KubeStash makes the Repository and runs the
initial backup into a Snapshot); those objects, as the sim stored them, are the templates.
The sim is stopped (it writes its state file), and every database's objects are written
into that file from the templates (names, ids, uids, resourceVersions and times replaced
in the JSON text), then the sim starts again from the file (`dbaas sim --state`, as after
an etcd restore). The rows are what status-sync would have recorded of them (COPY). Never
used by the programs; writes only to the throwaway database and sim it is given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import common, seeding
from services import devrun
from services.clients import kube, postgres
from services.domain import backup_manifests
from services.domain.backup_readings import parse_size
from services.domain.backups import BackupPolicy, Retention
from services.domain.resources import (
    BACKUP_CONFIGURATION,
    RETENTION_POLICY,
    SECRET,
    Resource,
)
from services.sim.kubestash.backups import snapshot_name

SNAPSHOTS = 30
SESSIONS = backup_manifests.SESSION_HISTORY_LIMIT
"""BackupSessions KubeStash keeps per configuration (`sessionHistoryLimit`)."""
POLICY = BackupPolicy(schedule="0 0 1 1 *", retention=Retention(keep_last=SNAPSHOTS, max_age=None))
"""Daily backups in real life; a yearly cron here, so no schedule fires during a run (the
benchmark creates the sessions it times itself, as the schedule would)."""
BACKUP_STORAGES = Resource("storage.kubestash.com", "v1alpha1", "backupstorages", "BackupStorage")
KINDS = ("Secret", "RetentionPolicy", "BackupConfiguration", "Repository")
_TIME = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"')
_RV = re.compile(r'"resourceVersion": "\d+"')
DIGITS = 1_765_000_000
"""The first session's number (KubeStash names a scheduled session by its Unix time)."""


@dataclasses.dataclass(frozen=True)
class Templates:
    """One database's KubeStash objects, as the sim stored them."""

    name: str
    database_id: uuid.UUID
    objects: dict[str, dict[str, Any]]
    """By kind: Secret, RetentionPolicy, BackupConfiguration, Repository, BackupSession,
    Snapshot."""

    @property
    def size_bytes(self) -> int:
        return parse_size(self.objects["Snapshot"]["status"].get("size")) or 0


def names_of(seeded: seeding.Seeded, index: int) -> backup_manifests.BackupNames:
    spec = seeding.spec_for(seeded.names[index])
    return backup_manifests.names_for(
        spec, namespace=seeded.namespace, database_id=seeded.ids[index]
    )


def session_name(names: backup_manifests.BackupNames, number: int) -> str:
    return f"{names.backup_configuration}-{backup_manifests.SESSION}-{DIGITS + number * 86400}"


def make_templates(sim: common.Sim, seeded: seeding.Seeded) -> Templates:
    """The BackupStorage, then the first database's backup objects the real way; waits for
    KubeStash's initial backup to succeed and reads every object back."""
    cluster = kube.KubeClient(kube.load_api_client(str(sim.kubeconfig)))
    try:
        storage_namespace = devrun.DEV_BACKUP_STORAGE[0]
        common.http_json(
            sim.url + "/api/v1/namespaces",
            method="POST",
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": storage_namespace}},
        )
        cluster.create(BACKUP_STORAGES, storage_namespace, devrun.local_backup_storage())
        names = names_of(seeded, 0)
        spec = seeding.spec_for(seeded.names[0])
        storage = backup_manifests.parse_object_ref("/".join(devrun.DEV_BACKUP_STORAGE))
        project = seeded.project
        secret = backup_manifests.render_encryption_secret(
            names, password="bench-password", project_id=project
        )
        cluster.create(SECRET, seeded.namespace, secret)
        retention = backup_manifests.render_retention_policy(
            POLICY.retention, names, project_id=project
        )
        cluster.create(RETENTION_POLICY, seeded.namespace, retention)
        configuration = backup_manifests.render_backup_configuration(
            spec, POLICY, names, storage=storage, project_id=project
        )
        cluster.create(BACKUP_CONFIGURATION, seeded.namespace, configuration)
    finally:
        cluster.close()
    base = f"{sim.url}/apis/storage.kubestash.com/v1alpha1/namespaces/{seeded.namespace}"
    core = f"{sim.url}/apis/core.kubestash.com/v1alpha1/namespaces/{seeded.namespace}"

    found: list[dict[str, Any]] = []

    def succeeded() -> bool:
        listed = common.http_json(
            f"{base}/snapshots?labelSelector={backup_manifests.LABEL_REPO_NAME}%3D{names.repository}"
        )
        for item in listed.get("items") or []:
            if (item.get("status") or {}).get("phase") == "Succeeded":
                name = item["spec"]["backupSession"]
                session = common.http_json(f"{core}/backupsessions/{name}")
                if (session.get("status") or {}).get("phase") == "Succeeded":
                    found.append(item)
                    return True
        return False

    common.wait_until("KubeStash's initial backup of the template database", succeeded, timeout=120)
    snapshot = found[0]
    session = common.http_json(f"{core}/backupsessions/{snapshot['spec']['backupSession']}")
    objects = {
        "Secret": common.http_json(
            f"{sim.url}/api/v1/namespaces/{seeded.namespace}/secrets/{names.encryption_secret}"
        ),
        "RetentionPolicy": common.http_json(f"{base}/retentionpolicies/{names.retention_policy}"),
        "BackupConfiguration": common.http_json(
            f"{core}/backupconfigurations/{names.backup_configuration}"
        ),
        "Repository": common.http_json(f"{base}/repositories/{names.repository}"),
        "BackupSession": session,
        "Snapshot": snapshot,
    }
    return Templates(seeded.names[0], seeded.ids[0], objects)


class _Writer:
    """Fills the templates in for one database after another, numbering resourceVersions."""

    def __init__(self, templates: Templates, first_version: int) -> None:
        self.templates = templates
        self.version = first_version
        self.texts = {kind: json.dumps(obj) for kind, obj in templates.objects.items()}
        self.uids = {kind: str(obj["metadata"]["uid"]) for kind, obj in templates.objects.items()}
        session = templates.objects["BackupSession"]
        self.session = str(session["metadata"]["name"])
        self.snapshot = str(templates.objects["Snapshot"]["metadata"]["name"])
        # Each distinct time of the session and Snapshot, by day of the month (day 0 oldest).
        moments = set(_TIME.findall(self.texts["BackupSession"] + self.texts["Snapshot"]))
        self.times = [
            {moment: _shift(moment, days=day - (SNAPSHOTS - 1)) for moment in moments}
            for day in range(SNAPSHOTS)
        ]

    def _next_version(self, match: re.Match[str]) -> str:
        self.version += 1
        return f'"resourceVersion": "{self.version}"'

    def _fill(self, text: str, replacements: list[tuple[str, str]]) -> str:
        for old, new in replacements:
            text = text.replace(old, new)
        return _RV.sub(self._next_version, text)

    def database(self, seeded: seeding.Seeded, index: int) -> Iterator[tuple[str, str, str, str]]:
        """(kind, text, session, snapshot) of every object of database `index` ("" for the
        session and Snapshot of the others)."""
        t = self.templates
        names = names_of(seeded, index)
        template_names = names_of_template(t, seeded.namespace)
        uids = {uid: str(uuid.uuid4()) for uid in self.uids.values()}
        common_swaps = [
            (str(t.database_id), str(names.database_id)),
            (template_names.database_id.hex[: backup_manifests.DB_HEX],
             names.database_id.hex[: backup_manifests.DB_HEX]),
            (f'"{t.name}"', f'"{names.database}"'),
            (f"{t.name}-", f"{names.database}-"),
            (f"-{t.name}", f"-{names.database}"),
            *uids.items(),
        ]  # fmt: skip
        for kind in KINDS:
            yield kind, self._fill(self.texts[kind], common_swaps), "", ""
        for day in range(SNAPSHOTS):
            session = session_name(names, day)
            snapshot = snapshot_name(names.repository, session)
            swaps = [
                (self.snapshot, snapshot),
                (self.session, session),
                (self.uids["Snapshot"], str(uuid.uuid4())),
                *self.times[day].items(),
                *common_swaps,
            ]
            yield "Snapshot", self._fill(self.texts["Snapshot"], swaps), session, snapshot
            if day >= SNAPSHOTS - SESSIONS:
                swaps[2] = (self.uids["BackupSession"], str(uuid.uuid4()))
                text = self._fill(self.texts["BackupSession"], swaps)
                yield "BackupSession", text, session, snapshot


def names_of_template(templates: Templates, namespace: str) -> backup_manifests.BackupNames:
    spec = seeding.spec_for(templates.name)
    return backup_manifests.names_for(spec, namespace=namespace, database_id=templates.database_id)


def _shift(moment: str, *, days: int) -> str:
    at = dt.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(days=days)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class Written:
    snapshots: int
    sessions: int
    rows: list[tuple[uuid.UUID, str, str, int]]
    """(database id, session, Snapshot, day) of every Snapshot: its backup row."""


def write_state(state: Path, templates: Templates, seeded: seeding.Seeded) -> Written:
    """Every seeded database's backup objects into the stopped sim's state file (the
    template database's own objects are replaced by the generated ones)."""
    document = json.loads(state.read_bytes())
    objects: dict[str, list[dict[str, Any]]] = document["objects"]
    keys: dict[str, str] = {}
    template_uids = {str(obj["metadata"]["uid"]) for obj in templates.objects.values()}
    for key, items in objects.items():
        for item in items:
            if item.get("kind") in (*KINDS, "BackupSession", "Snapshot"):
                keys.setdefault(str(item["kind"]), key)
        objects[key] = [
            item for item in items if str(item["metadata"].get("uid")) not in template_uids
        ]
    writer = _Writer(templates, int(document["resourceVersion"]))
    parts = {key: state.with_name(f"{state.name}.{number}.part") for number, key in
             enumerate(sorted(set(keys.values())))}  # fmt: skip
    sinks = {key: path.open("w") for key, path in parts.items()}
    rows: list[tuple[uuid.UUID, str, str, int]] = []
    sessions = 0
    begun: set[str] = set()
    try:
        for index in range(len(seeded.ids)):
            day = 0
            for kind, text, session, snapshot in writer.database(seeded, index):
                key = keys[kind]
                sinks[key].write(("," if key in begun else "") + text)
                begun.add(key)
                if kind == "Snapshot":
                    rows.append((seeded.ids[index], session, snapshot, day))
                    day += 1
                sessions += kind == "BackupSession"
    finally:
        for sink in sinks.values():
            sink.close()
    scratch = state.with_suffix(".tmp")
    with scratch.open("w") as out:
        head = {"format": document["format"], "resourceVersion": writer.version}
        out.write(json.dumps(head)[:-1] + ', "objects": {')
        for number, key in enumerate(sorted(set(objects) | set(parts))):
            out.write(("," if number else "") + json.dumps(key) + ": [")
            out.write(",".join(json.dumps(item) for item in objects.get(key, [])))
            if key in parts:
                if objects.get(key):
                    out.write(",")
                with parts[key].open() as part:
                    while chunk := part.read(1 << 20):
                        out.write(chunk)
                parts[key].unlink()
            out.write("]")
        out.write("}}\n")
    scratch.replace(state)
    return Written(len(rows), sessions, rows)


def insert_rows(
    database_url: str, seeded: seeding.Seeded, templates: Templates, written: Written
) -> None:
    """The backup policy of every database, and a `backups` row per Snapshot, as status-sync
    would have recorded them (state, snapshot, size, times)."""
    session = templates.objects["BackupSession"]
    snapshot = templates.objects["Snapshot"]
    started = dt.datetime.strptime(
        session["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"
    ).replace(tzinfo=dt.UTC)
    completed_text = (
        snapshot["status"].get("lastUpdateTime") or session["metadata"]["creationTimestamp"]
    )
    completed = dt.datetime.strptime(completed_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    size = templates.size_bytes
    with postgres.connect(database_url) as conn:
        conn.execute(
            "UPDATE databases SET backup = %s WHERE id = ANY(%s)",
            (json.dumps(POLICY.public()), list(seeded.ids)),
        )
        with conn.cursor().copy(
            "COPY backups (id, project_id, database_id, origin, state, backup_session,"
            " snapshot, size_bytes, started_at, completed_at, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for database_id, session_text, snapshot_text, day in written.rows:
                shift = dt.timedelta(days=day - (SNAPSHOTS - 1))
                at = started + shift
                copy.write_row(
                    (uuid.uuid4(), seeded.project, database_id, "schedule", "succeeded",
                     session_text, snapshot_text, size, at, completed + shift, at, at)
                )  # fmt: skip
        conn.execute("ANALYZE backups")
        conn.commit()


def insert_probe(database_url: str, seeded: seeding.Seeded, label: str) -> uuid.UUID:
    """A succeeded backup row whose Snapshot the cluster does not have: status-sync marks it
    deleted once it processed a full list of the Snapshots, which is how a benchmark sees
    that a (re)list of them is done."""
    probe = uuid.uuid4()
    with postgres.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO backups (id, project_id, database_id, origin, state, backup_session,"
            " snapshot, completed_at) VALUES (%s, %s, %s, 'schedule', 'succeeded', %s, %s,"
            " now())",
            (probe, seeded.project, seeded.ids[0], f"probe-{label}", f"probe-{label}-{probe}"),
        )
    return probe


def probe_marked(database_url: str, probe: uuid.UUID) -> bool:
    with postgres.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT snapshot_deleted_at IS NOT NULL AS gone FROM backups WHERE id = %s", (probe,)
        ).fetchone()
    return bool(row and row["gone"])
