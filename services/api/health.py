"""Liveness and readiness: /healthz says the process serves; /readyz that it can do work.

/readyz checks PostgreSQL, that its schema is current (no migration pending), Redis and
(when supervisord runs us) that every supervised program is RUNNING and, for those that
beat, has beaten within DBAAS_HEARTBEAT_TIMEOUT_SECONDS, concurrently and each
with a short timeout, so a wedged dependency makes it answer 503 quickly instead of hanging.
Outside supervisord (no socket: tests, a bare `dbaas api`) programs are reported
"unsupervised" and do not fail readiness.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from services.api import problems
from services.api.backends import Backends
from services.api.encoding import JSONResponse
from services.api.replies import backends_of
from services.store import migrating
from services.supervision import heartbeats, states

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0
Check = Callable[[Backends], dict[str, Any]]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def check_postgres(backends: Backends) -> dict[str, Any]:
    with backends.pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
        backends.pool.check_connection(conn)
    return {"status": "ok"}


def check_schema(backends: Backends) -> dict[str, Any]:
    """The database's schema is the one this code needs: no migration left to apply (the
    launcher applies them before the programs start; a failed or disabled step shows here)."""
    with backends.pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
        behind = migrating.pending(conn)
    if behind:
        return {"status": "failed", "detail": f"migrations not applied: {', '.join(behind)}"}
    return {"status": "ok"}


def check_redis(backends: Backends) -> dict[str, Any]:
    backends.redis.ping()
    return {"status": "ok"}


def check_programs(backends: Backends) -> dict[str, Any]:
    socket_path = backends.settings.socket_path
    if not socket_path.exists():
        return {"status": "unsupervised", "detail": f"no supervisord socket at {socket_path}"}
    programs = states.program_states(socket_path, timeout=CHECK_TIMEOUT_SECONDS)
    failing = {name: state for name, state in programs.items() if state != states.RUNNING}
    if failing:
        listed = ", ".join(f"{name} {state}" for name, state in sorted(failing.items()))
        return {"status": "failed", "detail": f"not running: {listed}", "programs": programs}
    frozen = _not_progressing(backends, programs)
    if frozen:
        listed = ", ".join(f"{name} (heartbeat {age:.0f}s old)" for name, age in frozen.items())
        return {"status": "failed", "detail": f"not progressing: {listed}", "programs": programs}
    return {"status": "ok", "programs": programs}


def _not_progressing(backends: Backends, programs: dict[str, str]) -> dict[str, float]:
    """RUNNING programs whose heartbeat is older than the timeout: up, but frozen (until
    supervisord's watchdog has restarted them)."""
    settings = backends.settings
    beats = heartbeats.read_all(settings.home)
    frozen = {}
    for name in sorted(programs):
        # `worker:worker-0` (a process of numprocs) beats as `worker-0`
        beat = beats.get(name.rpartition(":")[2])
        if beat is not None and beat.age() > settings.heartbeat_timeout_seconds:
            frozen[name] = beat.age()
    return frozen


CHECKS: dict[str, Check] = {
    "postgres": check_postgres,
    "schema": check_schema,
    "redis": check_redis,
    "programs": check_programs,
}


def _guarded(name: str, check: Check, backends: Backends) -> dict[str, Any]:
    try:
        return check(backends)
    except Exception as exc:  # any failure of a dependency means "not ready", never a 500
        log.warning("readyz: %s check failed: %s", name, exc)
        return {"status": "failed", "detail": f"{type(exc).__name__}"}


async def readyz(request: Request) -> Response:
    backends = backends_of(request)
    results: dict[str, dict[str, Any]] = {}

    async def run(name: str, check: Check) -> None:
        results[name] = await anyio.to_thread.run_sync(_guarded, name, check, backends)

    async with anyio.create_task_group() as group:
        for name, check in CHECKS.items():
            group.start_soon(run, name, check)
    checks = {name: results[name] for name in CHECKS}
    failed = sorted(name for name, result in checks.items() if result["status"] == "failed")
    if failed:
        problem = problems.Problem("not-ready", f"failing: {', '.join(failed)}", checks=checks)
        return problems.respond(problem, request)
    return JSONResponse({"status": "ready", "checks": checks})
