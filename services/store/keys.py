"""API keys: created once, shown once, stored as a SHA-256 digest.

A key reads `dbaas_<prefix>_<secret>`. The prefix finds the row; the digest of the whole
key is compared in constant time. Keys are 190+ bits of randomness, so a fast digest is
enough (no password hashing needed). This module never logs or returns a stored key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import uuid

from services.clients.postgres import Connection
from services.domain.records import Principal
from services.store import projects

ROLES = ("viewer", "operator", "admin")
KEY_PREFIX = "dbaas"


class InvalidRole(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    id: uuid.UUID
    project_id: str
    role: str
    prefix: str
    description: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    expires_at: dt.datetime | None = None


_INFO = (
    "id, project_id, role, prefix, description, created_at, last_used_at, revoked_at, expires_at"
)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create(conn: Connection, *, project_id: str, role: str, description: str = "") -> str:
    """Create a key (and its project if missing); return the plaintext key, once."""
    token, _ = issue(conn, project_id=project_id, role=role, description=description)
    return token


def issue(
    conn: Connection,
    *,
    project_id: str,
    role: str,
    description: str = "",
    expires_at: dt.datetime | None = None,
) -> tuple[str, KeyInfo]:
    """`create`, with an expiry, returning the plaintext key (once) and what is stored."""
    if role not in ROLES:
        raise InvalidRole(f"role {role!r} is not one of {', '.join(ROLES)}")
    projects.ensure(conn, project_id)
    prefix = secrets.token_hex(6)
    token = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    row = conn.execute(
        "INSERT INTO api_keys"
        " (id, project_id, role, prefix, secret_sha256, description, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING " + _INFO,
        (uuid.uuid4(), project_id, role, prefix, _digest(token), description, expires_at),
    ).fetchone()
    assert row is not None
    return token, KeyInfo(**row)


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None (no hint about why)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    row = conn.execute(
        "SELECT id, project_id, role, secret_sha256, revoked_at, expires_at,"
        " expires_at <= now() AS expired FROM api_keys WHERE prefix = %s",
        (parts[1],),
    ).fetchone()
    if row is None or row["revoked_at"] is not None or row["expired"]:
        return None
    if not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(token)):
        return None
    return Principal(
        key_id=row["id"],
        project_id=row["project_id"],
        role=row["role"],
        expires_at=row["expires_at"],
    )


def touch(conn: Connection, key_id: uuid.UUID) -> None:
    """Record use, at most once a minute per key (keeps reads from turning into writes)."""
    conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (key_id,),
    )


def list_keys(conn: Connection, *, project_id: str | None = None) -> list[KeyInfo]:
    rows = conn.execute(
        "SELECT " + _INFO + " FROM api_keys WHERE (%(p)s::text IS NULL OR project_id = %(p)s)"
        " ORDER BY project_id, created_at",
        {"p": project_id},
    ).fetchall()
    return [KeyInfo(**row) for row in rows]


def revoke_in_project(conn: Connection, project_id: str, key_id: uuid.UUID) -> KeyInfo | None:
    """Revoke one live key of the project; None when it has no such live key."""
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now()"
        " WHERE id = %s AND project_id = %s AND revoked_at IS NULL RETURNING " + _INFO,
        (key_id, project_id),
    ).fetchone()
    return None if row is None else KeyInfo(**row)


def revoke(conn: Connection, key_ref: str) -> uuid.UUID | None:
    """Revoke by id or prefix: the key's id, None when no live key matches."""
    try:
        key_id: uuid.UUID | None = uuid.UUID(key_ref)
    except ValueError:
        key_id = None
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now()"
        " WHERE (id = %s OR prefix = %s) AND revoked_at IS NULL RETURNING id",
        (key_id, key_ref),
    ).fetchone()
    return None if row is None else uuid.UUID(str(row["id"]))
