"""Idempotency-Key records: the first response to a keyed POST, replayed on retries.

Callers hold `lock()` for the whole transaction that does the work, so two concurrent
requests with one key serialise: the second finds the first one's record.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from psycopg.types.json import Jsonb

from services.clients.postgres import Connection


@dataclasses.dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: Any
    headers: dict[str, str]


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def lock(conn: Connection, project_id: str, key: str) -> None:
    """Serialise requests of one (project, key) until the caller's transaction ends.

    "/" separates: project ids never contain one, so the pair stays unambiguous.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (f"{project_id}/{key}",))


def find(conn: Connection, project_id: str, key: str) -> StoredResponse | None:
    row = conn.execute(
        "SELECT request_hash, status_code, response_body, headers FROM idempotency_keys"
        " WHERE project_id = %s AND key = %s",
        (project_id, key),
    ).fetchone()
    if row is None:
        return None
    return StoredResponse(
        request_hash=row["request_hash"],
        status_code=row["status_code"],
        body=row["response_body"],
        headers=dict(row["headers"]),
    )


def save(conn: Connection, project_id: str, key: str, response: StoredResponse) -> None:
    conn.execute(
        "INSERT INTO idempotency_keys"
        " (project_id, key, request_hash, status_code, response_body, headers)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (
            project_id,
            key,
            response.request_hash,
            response.status_code,
            Jsonb(response.body),
            Jsonb(response.headers),
        ),
    )
