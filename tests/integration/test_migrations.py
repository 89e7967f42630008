from __future__ import annotations

import threading

import psycopg

from services.store import migrating


def test_migrations_apply_once_and_are_recorded(empty_database_url: str) -> None:
    first = migrating.apply(empty_database_url)
    second = migrating.apply(empty_database_url)
    assert first == [name for name, _ in migrating.available()]
    assert second == []
    with psycopg.connect(empty_database_url) as conn:
        recorded = [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY 1")]
    assert recorded == first


def test_concurrent_migrators_apply_each_file_exactly_once(empty_database_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            results.append(migrating.apply(empty_database_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, name=f"migrator-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    applied = sorted(name for names in results for name in names)
    assert applied == [name for name, _ in migrating.available()]
