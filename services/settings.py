"""Typed settings, read once per process from `DBAAS_*` environment variables.

This is the only module that reads `os.environ`. Everything else receives a `Settings`
object (or the values it needs) from its caller. A missing or malformed value fails fast
with a message naming the variable; secrets are masked in `repr`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.domain import backups

_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
_OBJECT_REF = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?")
_PASSWORD_KEYWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


class SettingsError(ValueError):
    """A `DBAAS_*` variable is malformed."""


def mask_url(url: str) -> str:
    """Hide every password a libpq or redis-py connection string can carry.

    URL userinfo (`postgresql://u:***@h/db`, the userinfo ending at the authority's last
    "@", so an unencoded "@" in the password stays hidden), a `password=` query parameter,
    and libpq's `password=...` keyword form.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, tail = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        if at and ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
            rest = f"{userinfo}@{host}{slash}{tail}"
        return scheme + "://" + _PASSWORD_PARAMETER.sub(r"\1***", rest)
    return _PASSWORD_KEYWORD.sub(r"\1***", url)


MAX_WORKER_PROCESSES = 16
"""More worker processes than this would not fit the pod's memory (512 MiB) anyway."""


def _default_home() -> Path:
    return Path.cwd() / ".dbaas"


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://localhost:5432/dbaas"
    """PostgreSQL URL of the source of truth (`DBAAS_DATABASE_URL`)."""
    redis_url: str = "redis://localhost:6379/0"
    """Redis URL carrying the RQ queue (`DBAAS_REDIS_URL`)."""
    home: Path = dataclasses.field(default_factory=_default_home)
    """Runtime files: supervisor socket, kubeconfig, dev key (`DBAAS_HOME`, default `.dbaas/`)."""
    kubeconfig: str | None = None
    """Kubeconfig path (`DBAAS_KUBECONFIG`, else `KUBECONFIG`, else in-cluster)."""
    api_host: str = "127.0.0.1"
    """Address the API binds (`DBAAS_API_HOST`)."""
    api_port: int = 8000
    """API port (`DBAAS_API_PORT`)."""
    api_workers: int = 1
    """Hypercorn worker processes (`DBAAS_API_WORKERS`); 1 serves in one process, no master
    (the pod targets half a CPU). More workers are the scaling knob: from 2 on, a master
    forks them onto one shared socket, each with its own connection pool."""
    worker_processes: int = 1
    """Worker processes of the pod (`DBAAS_WORKER_PROCESSES`, 1 to MAX_WORKER_PROCESSES):
    supervisord's `numprocs` of program `worker`, processes `worker-0` ... `worker-<n-1>`,
    each its own RQ worker with its own name, heartbeat and lease owner. Operations are
    claimed in PostgreSQL, so more processes share one database's work without overlapping.
    1 by default: each costs ~60-80 MiB of RSS (bench/README.md, worker processes)."""
    queue_name: str = "dbaas-operations"
    """RQ queue of operation jobs (`DBAAS_QUEUE_NAME`)."""
    operation_lease_seconds: float = 60.0
    """How long a claimed operation belongs to one worker (`DBAAS_OPERATION_LEASE_SECONDS`)."""
    pending_redispatch_seconds: float = 30.0
    """Age after which the sweeper enqueues a pending operation again, seconds."""
    opsrequest_retention_seconds: float = 300.0
    """How long finished OpsRequests stay in the cluster after being recorded, seconds."""
    resync_interval_seconds: float = 300.0
    """Full re-list period of status-sync, seconds."""
    drift_interval_seconds: float = 60.0
    """Period of drift's full pass, seconds: the safety net; while it leads, drift also
    judges each CR change from its watch as it happens."""
    operation_timeout_seconds: float = 3600.0
    """How long KubeDB may take over an operation, counted from its first start, before
    status-sync fails it as timed out (`DBAAS_OPERATION_TIMEOUT_SECONDS`): a CR that never
    becomes Ready, an OpsRequest stuck Progressing, a deletion a finalizer holds."""
    max_body_bytes: int = 65536
    """Largest accepted request body (`DBAAS_MAX_BODY_BYTES`), bytes."""
    body_timeout_seconds: float = 10.0
    """How long a request body may take to arrive whole (`DBAAS_BODY_TIMEOUT_SECONDS`): a
    client trickling its body is answered 408 and its connection closed after this."""
    quota_databases: int = 100
    """Live databases a project may hold (`DBAAS_QUOTA_DATABASES`); 0 = no limit. Each quota
    is a default: `dbaas quota set` overrides it per project."""
    quota_storage: str = "10Ti"
    """Storage of a project's live databases together, replicas x storage, a quantity
    (`DBAAS_QUOTA_STORAGE`); 0 = no limit."""
    quota_cpu: str = "200"
    """CPU requested by a project's live databases together, replicas x cpu, in cores or
    a quantity (`DBAAS_QUOTA_CPU`); 0 = no limit. A database without cpu counts 500m."""
    quota_memory: str = "800Gi"
    """Memory of a project's live databases together, replicas x memory
    (`DBAAS_QUOTA_MEMORY`); 0 = no limit. A database without memory counts 1Gi."""
    quota_waiting_operations: int = 20
    """Operations one database may have queued, running or waiting
    (`DBAAS_QUOTA_WAITING_OPERATIONS`); 0 = no limit."""
    platform_project: str = "platform"
    """The platform team's project (`DBAAS_PLATFORM_PROJECT`): its admin keys manage every
    project's quotas (`/v1/projects/{project}/quota`); a project's own keys only read its
    own (`GET /v1/quota`)."""
    rate_reads_per_second: float = 200.0
    """Sustained GET/HEAD requests per second one API key may make, over every API process
    and pod (a token bucket in Redis) (`DBAAS_RATE_READS_PER_SECOND`); 0 = no limit."""
    rate_read_burst: int = 1000
    """Reads one key may make at once before the rate applies (`DBAAS_RATE_READ_BURST`)."""
    rate_writes_per_second: float = 50.0
    """Sustained other requests per second per API key (`DBAAS_RATE_WRITES_PER_SECOND`);
    0 = no limit."""
    rate_write_burst: int = 500
    """Writes one key may make at once (`DBAAS_RATE_WRITE_BURST`)."""
    supervisor_socket: Path | None = None
    """supervisord's unix socket, for /readyz (`DBAAS_SUPERVISOR_SOCKET`; default under home)."""
    log_level: str = "INFO"
    """Python log level name (`DBAAS_LOG_LEVEL`)."""
    log_format: str = "text"
    """`text` (one escaped line per record) or `json` (one JSON object per line, for log
    pipelines) (`DBAAS_LOG_FORMAT`)."""
    program: str = "dbaas"
    """Name prefixed to every log line (`DBAAS_PROGRAM`; supervisord sets it per program)."""
    worker_name: str | None = None
    """RQ worker name and lease owner (`DBAAS_WORKER_NAME`); default `<hostname>-<pid>`.

    Must be unique among running workers: a worker removes a stale registration of its own
    name at startup."""
    heartbeat_interval_seconds: float = 1.0
    """How often worker, status-sync and drift beat (`DBAAS_HEARTBEAT_INTERVAL_SECONDS`),
    seconds: a file under `$DBAAS_HOME/heartbeats/`, and the worker's row in PostgreSQL."""
    heartbeat_timeout_seconds: float = 10.0
    """A program whose heartbeat is older than this is frozen (`DBAAS_HEARTBEAT_TIMEOUT_SECONDS`),
    seconds: supervisord kills it so that it starts again, /readyz reports it, and the
    operations a silent worker had claimed are handed to another worker."""
    leader_give_up_seconds: float = 10.0
    """A leader whose cycles have failed for this long (the cluster unreachable from this pod,
    say) gives leadership up and stands back as long again, so that another instance can
    lead (`DBAAS_LEADER_GIVE_UP_SECONDS`), seconds."""
    migrate_on_start: bool = True
    """Apply pending migrations before the pod's programs start (`DBAAS_MIGRATE_ON_START`;
    `false` where an init container or a release job migrates instead)."""
    migrate_wait_seconds: float = 15.0
    """How long the pod's launcher retries a failing migration before it starts the programs
    anyway (`DBAAS_MIGRATE_WAIT_SECONDS`), seconds; /readyz stays 503 until the schema is
    current."""
    backup_storage: str | None = None
    """The KubeStash BackupStorage every backup goes to, `namespace/name`
    (`DBAAS_BACKUP_STORAGE`); the platform team creates it with its credentials, which never
    pass through dbaas. Unset: backup endpoints answer 503 backups-not-configured."""
    deleted_backup_retention: str | None = None
    """How long the backups of a deleted database are kept (`DBAAS_DELETED_BACKUP_RETENTION`,
    a number and h, d, w, mo or y, e.g. `90d`): then status-sync deletes their Snapshots, with
    their data. Unset: kept until the platform team removes them from the BackupStorage."""

    @property
    def deleted_backup_retention_seconds(self) -> float | None:
        if self.deleted_backup_retention is None:
            return None
        return backups.max_age_hours(self.deleted_backup_retention) * 3600.0

    def __repr__(self) -> str:
        fields = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("database_url", "redis_url"):
                value = mask_url(str(value))
            fields.append(f"{field.name}={value!r}")
        return f"Settings({', '.join(fields)})"

    @property
    def socket_path(self) -> Path:
        return self.supervisor_socket or self.home / "supervisor.sock"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(f"DBAAS_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, raw, str(field.type))
        if "kubeconfig" not in values and env.get("KUBECONFIG"):
            values["kubeconfig"] = env["KUBECONFIG"]
        storage = values.get("backup_storage")
        if storage is not None and not _OBJECT_REF.fullmatch(storage):
            raise SettingsError(
                f"DBAAS_BACKUP_STORAGE={storage!r} is not namespace/name "
                "(e.g. dbaas-backup/s3-primary)"
            )
        retention = values.get("deleted_backup_retention")
        if retention is not None:
            try:
                backups.max_age_hours(retention)
            except ValueError as error:
                raise SettingsError(f"DBAAS_DELETED_BACKUP_RETENTION: {error}") from None
        processes = values.get("worker_processes", 1)
        if not 1 <= processes <= MAX_WORKER_PROCESSES:
            raise SettingsError(
                f"DBAAS_WORKER_PROCESSES={processes!r} is not between 1 and {MAX_WORKER_PROCESSES}"
            )
        if processes > 1 and values.get("worker_name"):
            # one name for several processes: each would take the others' leases for its own
            raise SettingsError(
                "DBAAS_WORKER_NAME names one worker process: leave it unset with "
                f"DBAAS_WORKER_PROCESSES={processes} (each process names itself <hostname>-<pid>)"
            )
        if values.get("log_format", "text") not in ("text", "json"):
            raise SettingsError(f"DBAAS_LOG_FORMAT={values['log_format']!r} is not text or json")
        return cls(**values)


def _parse(name: str, raw: str, type_name: str) -> Any:
    try:
        if type_name.startswith("bool"):
            return _parse_bool(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if "Path" in type_name:
            return Path(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"DBAAS_{name.upper()}={raw!r} is not a valid {type_name}") from exc


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _parse_bool(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError(raw)
