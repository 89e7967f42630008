"""Freed heap pages go back to the OS after a pass (glibc), and nothing breaks elsewhere."""

from __future__ import annotations

import platform

from services.reconcilers import memory


def test_trim_works_exactly_where_the_c_library_is_glibc() -> None:
    assert memory.trim() is (platform.libc_ver()[0] == "glibc")


def test_trim_leaves_objects_in_use_intact() -> None:
    kept = [{"name": f"db-{i:05d}", "spec": {"replicas": i}} for i in range(10_000)]
    garbage = [{"name": f"x-{i}", "payload": "y" * 600} for i in range(10_000)]
    del garbage
    memory.trim()
    assert kept[9_999] == {"name": "db-09999", "spec": {"replicas": 9_999}}
    assert sum(item["spec"]["replicas"] for item in kept) == sum(range(10_000))
