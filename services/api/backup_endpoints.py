"""HTTP endpoints of backups: take one now, list a database's or the project's, read one.

A backup answer never names the storage or its credentials (issue 17: they stay with the
platform team). Without `DBAAS_BACKUP_STORAGE` a POST answers 503 backups-not-configured
before it reads the body or locks anything; the reads still answer (rows stay listable).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, encoding, mutations, problems, query_params, reads, representations
from services.api.backends import Backends
from services.api.encoding import JSONResponse
from services.api.replies import Reply, backends_of, idempotency_key, path_id
from services.clients.postgres import Connection
from services.control import backups as control
from services.domain.backups import BackupOrigin, BackupState
from services.domain.records import OperationRecord, Principal
from services.store import backups

BACKUPS_CURSOR = "backups"
BACKUP_STATES = tuple(state.value for state in BackupState)
BACKUP_ORIGINS = tuple(origin.value for origin in BackupOrigin)


async def create_backup(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    database_id = path_id(request)
    key = idempotency_key(request)
    query_params.check_known(request)
    principal = await backends.principal(token, auth.OPERATOR)
    control.storage_of(backends.settings.backup_storage)  # 503 before any work
    reply = await run_in_threadpool(
        _take,
        backends,
        principal,
        database_id,
        key=key,
        fingerprint=mutations.request_hash("POST", request.url.path, None),
    )
    return reply.response()


def _take(
    backends: Backends,
    principal: Principal,
    database_id: uuid.UUID,
    *,
    key: str | None,
    fingerprint: str,
) -> Reply:
    def act(conn: Connection) -> tuple[Reply, list[OperationRecord]]:
        accepted = control.take_backup(
            conn,
            principal,
            database_id,
            storage=backends.settings.backup_storage,
            quota=backends.quota,
        )
        body = representations.backup(accepted.backup) | {
            "operation": representations.operation(accepted.operation)
        }
        headers = {"Location": representations.backup_path(accepted.backup.id)}
        return Reply(202, encoding.plain(body), headers), [accepted.operation]

    return mutations.run_keyed(backends, principal, key, fingerprint, act)


async def list_database_backups(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    database_id = path_id(request)
    params = query_params.check_known(request, ("limit", "cursor", "state", "origin"))
    page = await backends.call(
        token,
        auth.VIEWER,
        _database_page,
        database_id,
        limit=query_params.limit(params),
        before=query_params.time_id_cursor(params, BACKUPS_CURSOR),
        state=query_params.choice(params, "state", BACKUP_STATES),
        origin=query_params.choice(params, "origin", BACKUP_ORIGINS),
    )
    return JSONResponse(page)


async def list_backups(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    params = query_params.check_known(
        request, ("limit", "cursor", "state", "origin", "database_id")
    )
    page = await backends.call(
        token,
        auth.VIEWER,
        _page,
        database_id=query_params.identifier(params, "database_id"),
        limit=query_params.limit(params),
        before=query_params.time_id_cursor(params, BACKUPS_CURSOR),
        state=query_params.choice(params, "state", BACKUP_STATES),
        origin=query_params.choice(params, "origin", BACKUP_ORIGINS),
    )
    return JSONResponse(page)


async def get_backup(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    backup_id = path_id(request)
    query_params.check_known(request)
    body = await backends.call(token, auth.VIEWER, _one, backup_id)
    return JSONResponse(body)


def _one(conn: Connection, principal: Principal, backup_id: uuid.UUID) -> dict[str, Any]:
    record = backups.get(conn, principal.project_id, backup_id)
    if record is None:
        raise problems.not_found(f"backup {backup_id} not found")
    return representations.backup(record)


def _database_page(
    conn: Connection, principal: Principal, /, database_id: uuid.UUID, **where: Any
) -> dict[str, Any]:
    reads.live_database(conn, principal, database_id)  # 404 for another project's database
    return _page(conn, principal, database_id=database_id, **where)


def _page(
    conn: Connection,
    principal: Principal,
    *,
    database_id: uuid.UUID | None,
    limit: int,
    before: Any,
    state: str | None,
    origin: str | None,
) -> dict[str, Any]:
    rows = backups.page(
        conn,
        principal.project_id,
        database_id=database_id,
        state=BackupState(state) if state else None,
        origin=BackupOrigin(origin) if origin else None,
        before=before,
        limit=limit + 1,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        created_at, last_id = rows[-1].cursor
        position = {"t": created_at.isoformat(), "i": str(last_id)}
        next_cursor = query_params.encode_cursor(BACKUPS_CURSOR, position)
    return representations.page([representations.backup(r) for r in rows], next_cursor)
