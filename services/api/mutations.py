"""The write side of `/v1/databases`: one transaction per request, then the enqueue.

A transaction PostgreSQL rolls back as a deadlock victim or a serialization failure runs
again whole (`postgres.retry_conflicts`), never answered 503. Order of a keyed request, all
in ONE transaction: lock the (project, Idempotency-Key) pair,
look for a stored answer (same request → replay it with `Idempotent-Replayed: true`; another
request → 422), run the use case, store the 2xx answer. Only after commit are the new
operations enqueued; a lost enqueue is re-dispatched by status-sync's sweeper. Everything
here blocks: endpoint modules call it through `run_in_threadpool`. No SQL and no rules of
its own: those live in `control`, `domain` and `store`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from services.api import encoding, problems, representations
from services.api.backends import Backends
from services.api.cluster_access import Catalog
from services.api.replies import Reply
from services.clients import postgres
from services.clients.postgres import Connection
from services.control import databases as control
from services.control import errors as control_errors
from services.control import restores as restore_cases
from services.domain import errors as domain_errors
from services.domain import restores, specs
from services.domain.records import OperationRecord, Principal
from services.store import idempotency

Act = Callable[[Connection], tuple[Reply, list[OperationRecord]]]


def request_hash(method: str, path: str, body: Any) -> str:
    """Hash of the request as parsed, so whitespace or key order do not make it "another"."""
    canonical = b"" if body is None else json.dumps(body, sort_keys=True).encode()
    return idempotency.request_hash(method, path, canonical)


def _accepted(accepted: control.Accepted, *, status: int, location: str | None) -> Reply:
    headers = {"ETag": accepted.database.etag}
    if accepted.operations:
        headers["Location"] = representations.operation_path(accepted.operations[-1].id)
    if location is not None:
        headers["Location"] = location
    body = encoding.plain(representations.accepted(accepted.database, accepted.operations))
    return Reply(status, body, headers)


def run_keyed(
    backends: Backends, principal: Principal, key: str | None, fingerprint: str, act: Act
) -> Reply:
    project = principal.project_id

    def attempt() -> tuple[Reply, list[OperationRecord]]:
        with backends.connection() as conn, conn.transaction():
            if key is not None:
                idempotency.lock(conn, project, key)
                stored = idempotency.find(conn, project, key)
                if stored is not None:
                    if stored.request_hash != fingerprint:
                        raise problems.Problem(
                            "idempotency-key-reused",
                            "this Idempotency-Key was used for another request; use a new key",
                        )
                    headers = stored.headers | {"Idempotent-Replayed": "true"}
                    return Reply(stored.status_code, stored.body, headers), []
            reply, created = act(conn)
            if key is not None and 200 <= reply.status < 300:
                saved = idempotency.StoredResponse(
                    fingerprint, reply.status, reply.body, reply.headers
                )
                idempotency.save(conn, project, key, saved)
        return reply, created

    reply, created = postgres.retry_conflicts(attempt)
    backends.enqueue([op.id for op in created])
    return reply


def create(
    backends: Backends,
    principal: Principal,
    body: Any,
    *,
    catalog: Catalog | None,
    catalog_error: control_errors.ControlError | None,
    key: str | None,
    fingerprint: str,
) -> Reply:
    """POST /v1/databases. Without a catalog only a replay can succeed (hence the error arg)."""

    def act(conn: Connection) -> tuple[Reply, list[OperationRecord]]:
        if catalog is None:
            assert catalog_error is not None
            raise catalog_error
        spec, restore = _validate_create(body, catalog)
        if restore is None:
            accepted = control.create_database(
                conn,
                principal,
                spec,
                quota=backends.quota,
                backup_storage=backends.settings.backup_storage,
            )
        else:
            accepted = restore_cases.restore_database(
                conn,
                principal,
                spec,
                restore,
                storage=backends.settings.backup_storage,
                quota=backends.quota,
            )
        location = representations.database_path(accepted.database.id)
        return _accepted(accepted, status=202, location=location), accepted.operations

    return run_keyed(backends, principal, key, fingerprint, act)


def _validate_create(
    body: Any, catalog: Catalog
) -> tuple[specs.DatabaseSpec, restores.RestoreRequest | None]:
    """The spec and the restore a create asks for; every problem of both listed at once."""
    if not isinstance(body, dict):
        return specs.validate_create(body, catalog=catalog), None
    plain = {key: value for key, value in body.items() if key != "restore"}
    if body.get("restore") is None:
        return specs.validate_create(plain, catalog=catalog), None
    found: list[domain_errors.FieldError] = []
    spec = request = None
    try:
        spec = specs.validate_create(plain, catalog=catalog)
    except domain_errors.ValidationFailed as exc:
        found += exc.errors
    try:
        request = restores.parse_restore(body["restore"])
    except domain_errors.ValidationFailed as exc:
        found += exc.errors
    if found:
        raise domain_errors.ValidationFailed(found)
    assert spec is not None and request is not None
    return spec, request


def restart(
    backends: Backends,
    principal: Principal,
    database_id: uuid.UUID,
    *,
    key: str | None,
    fingerprint: str,
) -> Reply:
    def act(conn: Connection) -> tuple[Reply, list[OperationRecord]]:
        accepted = control.restart_database(conn, principal, database_id, quota=backends.quota)
        return _accepted(accepted, status=202, location=None), accepted.operations

    return run_keyed(backends, principal, key, fingerprint, act)


def update(
    backends: Backends,
    principal: Principal,
    database_id: uuid.UUID,
    body: Any,
    *,
    if_match: str | None,
    catalog: Catalog,
) -> Reply:
    def attempt() -> control.Accepted:
        with backends.connection() as conn:
            return control.update_database(
                conn,
                principal,
                database_id,
                body,
                if_match=if_match,
                catalog=catalog,
                quota=backends.quota,
                backup_storage=backends.settings.backup_storage,
            )

    accepted = postgres.retry_conflicts(attempt)
    backends.enqueue([op.id for op in accepted.operations])
    return _accepted(accepted, status=202, location=None)


def delete(
    backends: Backends, principal: Principal, database_id: uuid.UUID, *, if_match: str | None
) -> Reply:
    def attempt() -> control.Accepted:
        with backends.connection() as conn:
            return control.delete_database(conn, principal, database_id, if_match=if_match)

    accepted = postgres.retry_conflicts(attempt)
    backends.enqueue([op.id for op in accepted.operations])
    return _accepted(accepted, status=202, location=None)
