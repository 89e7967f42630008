"""Audit events of reads that disclose something: they change no state, but who read what
must be on record before the caller gets it (a failed write means no disclosure)."""

from __future__ import annotations

from services.clients.postgres import Connection
from services.domain.records import DatabaseRecord, Principal
from services.store import events


def credentials_read(
    conn: Connection, principal: Principal, record: DatabaseRecord, *, secret: str
) -> None:
    """Record that `principal` read the credentials of `record` (Secret `secret`)."""
    with conn.transaction():
        events.record(
            conn,
            project_id=record.project_id,
            database_id=record.id,
            actor=principal.actor,
            kind="credentials.read",
            message=f"credentials of {record.name} read",
            details={"secret": secret},
        )
