"""The pod's dbaas_* series on the API's /metrics: one scrape answers for the whole pod.

Collected at scrape time from what every API worker can read alike, so the answer does not
depend on which worker (of DBAAS_API_WORKERS) the scrape reaches:
- PostgreSQL (`store.tallies`): operations by type and state, completed ones and their
  durations, the queue, the oldest open operation, databases by engine and state;
- supervisord's control socket: whether each program is RUNNING;
- the programs' heartbeat files (`supervision.heartbeats`): which program leads here, when
  each reconciler last completed a cycle, drift's findings, Kubernetes requests.
A source that cannot be read leaves its series out of that scrape (and says so in
dbaas_metrics_source_up) instead of failing the whole scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from services.api.backends import Backends
from services.store import tallies
from services.supervision import heartbeats, states

log = logging.getLogger(__name__)

LEADER_ELECTED = ("status-sync", "drift")
SOURCE_TIMEOUT_SECONDS = 2.0


class PodCollector(Collector):
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    def collect(self) -> Iterator[Metric]:
        sources = GaugeMetricFamily(
            "dbaas_metrics_source_up",
            "1 when this scrape could read the source (postgres, supervisord, heartbeats).",
            labels=["source"],
        )
        for name, collect in (
            ("postgres", self._from_postgres),
            ("supervisord", self._from_supervisord),
            ("heartbeats", self._from_heartbeats),
        ):
            try:
                families = list(collect())
            except Exception as exc:  # a source down must not fail the whole scrape
                log.warning("metrics: %s unavailable: %s", name, exc)
                sources.add_metric([name], 0)
                continue
            sources.add_metric([name], 1)
            yield from families
        yield sources

    def _from_postgres(self) -> Iterator[Metric]:
        with self.backends.pool.connection(timeout=SOURCE_TIMEOUT_SECONDS) as conn:
            counts = tallies.read(conn)
        operations = GaugeMetricFamily(
            "dbaas_operations", "Operations by type and state, now.", labels=["type", "state"]
        )
        completed = CounterMetricFamily(
            "dbaas_operations_completed",
            "Operations that reached a terminal state, by type and outcome.",
            labels=["type", "outcome"],
        )
        for (kind, state), n in sorted(counts.operations.items()):
            operations.add_metric([kind, state], n)
            if state in tallies.TERMINAL:
                completed.add_metric([kind, state], n)
        yield operations
        yield completed
        durations = HistogramMetricFamily(
            "dbaas_operation_duration_seconds",
            "Time from an operation's acceptance to its terminal state, by type.",
            labels=["type"],
        )
        for kind, histogram in sorted(counts.durations.items()):
            buckets: list[tuple[str, float]] = [
                (repr(bound), float(n))
                for bound, n in zip(tallies.DURATION_BUCKETS, histogram.buckets, strict=True)
            ]
            buckets.append(("+Inf", float(histogram.count)))
            durations.add_metric([kind], buckets, histogram.total_seconds)
        yield durations
        yield GaugeMetricFamily(
            "dbaas_queue_depth", "Operations accepted and not yet started.", counts.queue_depth
        )
        yield GaugeMetricFamily(
            "dbaas_oldest_waiting_operation_age_seconds",
            "Age of the oldest operation not yet terminal (pending, running or waiting).",
            counts.oldest_open_age_seconds,
        )
        databases = GaugeMetricFamily(
            "dbaas_databases", "Databases by engine and state.", labels=["engine", "state"]
        )
        for (engine, state), n in sorted(counts.databases.items()):
            databases.add_metric([engine, state], n)
        yield databases

    def _from_supervisord(self) -> Iterator[Metric]:
        socket_path = self.backends.settings.socket_path
        if not socket_path.exists():
            return  # unsupervised (a bare `dbaas api`, the split overlay's api pods)
        programs = states.program_states(socket_path, timeout=SOURCE_TIMEOUT_SECONDS)
        up = GaugeMetricFamily(
            "dbaas_program_up",
            "1 while supervisord reports the program (each worker process) RUNNING.",
            labels=["program"],
        )
        for name, state in sorted(programs.items()):
            # the process's name, as it beats: `worker-0` rather than `worker:worker-0`
            up.add_metric([name.rpartition(":")[2]], 1 if state == states.RUNNING else 0)
        yield up

    def _from_heartbeats(self) -> Iterator[Metric]:
        settings = self.backends.settings
        beats = heartbeats.read_all(settings.home)
        now = time.time()
        fresh = {
            name: beat
            for name, beat in beats.items()
            if beat.age(now) <= settings.heartbeat_timeout_seconds
        }
        age = GaugeMetricFamily(
            "dbaas_program_heartbeat_age_seconds",
            "Seconds since the program last beat (worker-<n>, status-sync, drift).",
            labels=["program"],
        )
        for name, beat in sorted(beats.items()):
            age.add_metric([name], max(0.0, beat.age(now)))
        yield age
        leader = GaugeMetricFamily(
            "dbaas_leader",
            "1 when this pod's instance leads the role (and still beats).",
            labels=["role"],
        )
        for role in LEADER_ELECTED:
            current = fresh.get(role)
            leader.add_metric([role], 1 if current is not None and current.leader else 0)
        yield leader
        success = GaugeMetricFamily(
            "dbaas_reconciler_last_success_timestamp_seconds",
            "Unix time of the reconciler's last successful cycle in this pod (as leader).",
            labels=["reconciler"],
        )
        for role in LEADER_ELECTED:
            last = beats.get(role)
            if last is not None and last.last_success is not None:
                success.add_metric([role], last.last_success)
        yield success
        yield from _reported(beats)


def _reported(beats: dict[str, heartbeats.Beat]) -> Iterator[Metric]:
    findings = GaugeMetricFamily(
        "dbaas_drift_findings",
        "Findings of drift's last pass by kind: missing CR, spec differs, orphan CR.",
        labels=["kind"],
    )
    drift = beats.get("drift")
    for kind, n in sorted((drift.gauges.get("drift_findings", {}) if drift else {}).items()):
        findings.add_metric([kind], n)
    yield findings
    requests = CounterMetricFamily(
        "dbaas_kube_requests",
        "Kubernetes API requests by program, verb and answer code (error: no answer).",
        labels=["program", "verb", "code"],
    )
    for program, beat in sorted(beats.items()):
        counted: dict[str, Any] = beat.counters.get("kube_requests", {})
        for key, n in sorted(counted.items()):
            verb, _, code = key.partition(" ")
            requests.add_metric([program, verb, code], float(n))
    yield requests
