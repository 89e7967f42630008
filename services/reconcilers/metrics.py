"""Prometheus metrics of the reconcilers, labelled by program.

Exposure: the pod's series (leadership, last successes, Kubernetes requests, drift
findings) reach the API's /metrics through the heartbeat files (services/api/metrics.py);
these per-process ones only with `--metrics-port` on one program's command line, off by
default. It used to be DBAAS_METRICS_PORT, which both reconcilers read: set pod-wide, the
second one failed to bind and took the pod down.

Series:
- dbaas_reconciler_cycle_seconds{program}            histogram of cycle durations
- dbaas_reconciler_cycles_total{program,result}      result: ok | idle | standby | error
- dbaas_reconciler_events_total{program,kind}        watch events, writes, completions, ...
- dbaas_reconciler_leader{program}                   1 while this instance leads
This module only declares and serves metrics; it never decides anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

CYCLE_SECONDS = Histogram(
    "dbaas_reconciler_cycle_seconds",
    "Duration of one reconcile cycle.",
    ["program"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CYCLES = Counter(
    "dbaas_reconciler_cycles_total", "Reconcile cycles by result.", ["program", "result"]
)
EVENTS = Counter(
    "dbaas_reconciler_events_total",
    "Things a reconciler handled: watch events, status writes, completed operations, drifts.",
    ["program", "kind"],
)
LEADER = Gauge("dbaas_reconciler_leader", "1 while this instance is the leader.", ["program"])


def count(program: str, kind: str, amount: int = 1) -> None:
    if amount:
        EVENTS.labels(program=program, kind=kind).inc(amount)


def serve(port: int, *, addr: str = "0.0.0.0") -> Callable[[], None] | None:
    """Serve /metrics on `port`; a function that stops serving, None when the port is 0."""
    if port <= 0:
        return None
    server, thread = start_http_server(port, addr=addr)
    thread.name = f"metrics-{port}"
    log.info("metrics: serving on %s:%d", addr, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
