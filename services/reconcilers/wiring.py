"""Build a reconciler process from its settings: clients, program, elector, daemon.

Why: `dbaas status-sync` and `dbaas drift` (and the tests that run them in-process) wire the
same pieces the same way; only the program differs. Nothing connects here: the pool opens
in the background and the elector connects on its first check, so a reconciler starts (and
stays up, retrying) while PostgreSQL, Redis or Kubernetes are still unreachable.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading

from services.clients import kube, postgres
from services.clients import queue as queue_client
from services.reconcilers.daemon import Daemon, Program
from services.reconcilers.drift.loop import DriftDetector
from services.reconcilers.leader import AdvisoryLockElector
from services.reconcilers.status_sync.loop import StatusSync, SyncConfig
from services.settings import Settings
from services.supervision import heartbeats

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Process:
    daemon: Daemon
    program: Program
    elector: AdvisoryLockElector
    pool: postgres.Pool
    cluster: kube.KubeClient

    def close(self) -> None:
        self.pool.close()
        self.cluster.close()


def elector_for(config: Settings, program: str) -> AdvisoryLockElector:
    connect = functools.partial(postgres.connect, config.database_url, autocommit=True)
    return AdvisoryLockElector(connect, program=program)


def stand_back_after_freeze(config: Settings, program_name: str, standby_seconds: float) -> float:
    """How long a starting instance lets others take leadership first: a few standby turns
    when its predecessor in this pod was leading and its last beat is older than the
    heartbeat timeout (frozen, then killed by the watchdog), else 0. A standby in another pod
    then takes the role rather than the restarted instance, which raced it to the freed
    lock; alone in the pod, it leads again after that pause."""
    previous = heartbeats.read(config.home, program_name)
    if previous is None or not previous.leader:
        return 0.0
    if previous.age() < config.heartbeat_timeout_seconds:
        return 0.0
    seconds = 3 * standby_seconds
    log.warning(
        "%s: the previous instance froze while leading; standing back %.0fs for a standby",
        program_name,
        seconds,
    )
    return seconds


def build(
    program_name: str,
    config: Settings,
    *,
    watch_timeout: int = 8,
    poll_seconds: float = 1.0,
    standby_seconds: float = 2.0,
) -> Process:
    pool = postgres.create_pool(config.database_url, name=program_name, min_size=1, max_size=2)
    cluster = kube.KubeClient(kube.load_api_client(config.kubeconfig))
    queue = queue_client.operation_queue(queue_client.connect(config.redis_url), config.queue_name)
    stop = threading.Event()  # the daemon sets it on SIGTERM; status-sync's waits end on it
    program: Program
    if program_name == "status-sync":
        program = StatusSync(
            pool=pool,
            cluster=cluster,
            queue=queue,
            config=SyncConfig(
                pending_redispatch_seconds=config.pending_redispatch_seconds,
                silent_worker_seconds=config.heartbeat_timeout_seconds,
                opsrequest_retention_seconds=config.opsrequest_retention_seconds,
                resync_interval_seconds=config.resync_interval_seconds,
                operation_timeout_seconds=config.operation_timeout_seconds,
                watch_backups=config.backup_storage is not None,
                deleted_backup_retention_seconds=config.deleted_backup_retention_seconds,
                watch_timeout_seconds=watch_timeout,
                poll_seconds=poll_seconds,
            ),
            stop=stop,
        )
    elif program_name == "drift":
        program = DriftDetector(
            pool=pool,
            cluster=cluster,
            queue=queue,
            interval_seconds=config.drift_interval_seconds,
            backup_storage=config.backup_storage,
            watch_timeout=watch_timeout,
        )
    else:
        raise ValueError(f"unknown reconciler {program_name!r}")
    elector = elector_for(config, program_name)
    heartbeat = heartbeats.Heartbeater(
        config.home, program_name, counters=lambda: {"kube_requests": kube.request_counts()}
    )
    daemon = Daemon(
        program,
        elector,
        stand_back_seconds=stand_back_after_freeze(config, program_name, standby_seconds),
        standby_seconds=standby_seconds,
        stop=stop,
        heartbeat=heartbeat,
        beat_every=config.heartbeat_interval_seconds,
        give_up_seconds=config.leader_give_up_seconds,
    )
    return Process(daemon, program, elector, pool, cluster)
