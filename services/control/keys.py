"""Use cases on API keys for a project's admins: issue, list, revoke, each audited.

A key is issued with a role no higher than its issuer's (an admin may issue any), a name,
and an optional expiry in the future. Every issue and revocation is an event of the
project (`key.created`, `key.revoked`) naming the acting key; secrets are never recorded.
Announcing a revocation to the API processes is the caller's part (after commit).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from services.clients.postgres import Connection
from services.control import errors
from services.domain import errors as domain_errors
from services.domain.records import Principal
from services.store import events, keys

MAX_NAME_LENGTH = 100
FIELDS = frozenset({"name", "role", "expires_at"})
# The same rule as KeyCreate.name's `not` pattern in the OpenAPI document.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _checked(body: Any) -> tuple[str, str, dt.datetime | None]:
    problems: list[domain_errors.FieldError] = []
    if not isinstance(body, dict):
        raise domain_errors.ValidationFailed(
            [domain_errors.FieldError("", domain_errors.INVALID_TYPE, "the body must be an object")]
        )
    for field in sorted(set(body) - FIELDS):
        problems.append(
            domain_errors.FieldError(
                field,
                domain_errors.UNKNOWN_FIELD,
                f"unknown field; allowed: {', '.join(sorted(FIELDS))}",
            )
        )
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH:
        problems.append(
            domain_errors.FieldError(
                "name", domain_errors.REQUIRED, f"a name of 1 to {MAX_NAME_LENGTH} characters"
            )
        )
    elif CONTROL_CHARACTERS.search(name):
        # PostgreSQL text cannot hold a NUL (it was a 500); no control character belongs in
        # a name a console or a log shows.
        problems.append(
            domain_errors.FieldError(
                "name", domain_errors.INVALID_NAME, "no control characters (U+0000-001F, 007F-009F)"
            )
        )
    role = body.get("role")
    if role not in keys.ROLES:
        problems.append(
            domain_errors.FieldError(
                "role", domain_errors.INVALID_CHOICE, f"one of {', '.join(keys.ROLES)}"
            )
        )
    expires_at: dt.datetime | None = None
    raw = body.get("expires_at")
    if raw is not None:
        try:
            expires_at = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            expires_at = None
        if expires_at is None or expires_at.tzinfo is None:
            problems.append(
                domain_errors.FieldError(
                    "expires_at",
                    domain_errors.INVALID_TYPE,
                    "an RFC 3339 time with its offset, e.g. 2030-01-01T00:00:00Z",
                )
            )
        elif expires_at <= dt.datetime.now(dt.UTC):
            problems.append(
                domain_errors.FieldError(
                    "expires_at", domain_errors.OUT_OF_RANGE, "must be in the future"
                )
            )
    if problems:
        raise domain_errors.ValidationFailed(problems)
    assert isinstance(name, str) and isinstance(role, str)
    return name, role, expires_at


def issue_key(conn: Connection, principal: Principal, body: Any) -> tuple[str, keys.KeyInfo]:
    name, role, expires_at = _checked(body)
    if keys.ROLES.index(role) > keys.ROLES.index(principal.role):
        raise errors.Forbidden(f"a key with role {principal.role} cannot issue a {role} key")
    with conn.transaction():
        token, info = keys.issue(
            conn,
            project_id=principal.project_id,
            role=role,
            description=name,
            expires_at=expires_at,
        )
        events.record(
            conn,
            project_id=principal.project_id,
            actor=principal.actor,
            kind="key.created",
            message=f"key {info.prefix} ({name!r}, {role}) created",
            details={"key_id": str(info.id), "role": role, "expires_at": raw_time(expires_at)},
        )
    return token, info


def revoke_key(conn: Connection, principal: Principal, key_id: uuid.UUID) -> keys.KeyInfo:
    with conn.transaction():
        info = keys.revoke_in_project(conn, principal.project_id, key_id)
        if info is None:
            raise errors.NotFound(f"no live key {key_id}")
        events.record(
            conn,
            project_id=principal.project_id,
            actor=principal.actor,
            kind="key.revoked",
            message=f"key {info.prefix} ({info.description!r}) revoked",
            details={"key_id": str(info.id)},
        )
    return info


def raw_time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
