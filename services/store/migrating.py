"""Ordered SQL migrations, applied once each and recorded in `schema_migrations`.

Several pods may start at once: the whole run holds a transaction-level advisory lock, so
the second migrator waits, then finds every file recorded and applies nothing.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import Any

import psycopg
import psycopg.rows

log = logging.getLogger(__name__)

# Arbitrary constant shared by every dbaas migrator ("dbaas" in ASCII).
MIGRATION_LOCK_ID = 0x6462616173


def available() -> list[tuple[str, str]]:
    """(name, sql) of every migration file, in name order."""
    folder = resources.files("services.store") / "migrations"
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [(entry.name, entry.read_text(encoding="utf-8")) for entry in files]


@functools.cache
def names() -> tuple[str, ...]:
    """Names of the migrations this code carries, in order (read once per process)."""
    return tuple(name for name, _ in available())


def pending(conn: psycopg.Connection[Any]) -> list[str]:
    """The migrations this code carries that the database has not applied, in order."""
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        exists = cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        applied: set[str] = set()
        if exists is not None and exists[0]:
            applied = {str(row[0]) for row in cur.execute("SELECT name FROM schema_migrations")}
    return [name for name in names() if name not in applied]


def apply(database_url: str) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied."""
    applied: list[str] = []
    with psycopg.connect(database_url, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, sql in available():
            if name in done:
                continue
            conn.execute(sql.encode())  # bytes: a multi-statement script, no parameters
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            log.info("migration %s: applied", name)
            applied.append(name)
        conn.commit()
    return applied


def ensure_database(database_url: str) -> bool:
    """Create the target database if it is missing; True when it was created."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = str(info.get("dbname") or "dbaas")
    maintenance = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        try:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
        log.info("database %s: created", name)
        return True
