"""Bytes status-sync holds per watched backup object: the whole object (what the backup view
kept before it kept readings) against its reading (`backup_readings.read_*`).

Measured with tracemalloc in this process on objects made from the sim's own (the
templates of `backup_seeding`, names and times filled in per database): the live bytes
after building the held values, divided by their number. The whole object is the parsed
JSON the listers handed over (a BackupConfiguration was already trimmed to its metadata,
`_whose`, before); the reading is what the listers hand over now.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import backup_seeding, seeding
from services.domain import backup_readings


def _whose(configuration: dict[str, Any]) -> dict[str, Any]:
    """What the view kept of a BackupConfiguration before it kept readings."""
    meta = configuration.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": dict(meta.get("labels") or {}),
        }
    }


def _traced(build: Callable[[], list[Any]]) -> int:
    """Live bytes of what `build` returns (kept until measured)."""
    gc.collect()
    tracemalloc.start()
    try:
        held = build()
        size = tracemalloc.get_traced_memory()[0]
        del held
    finally:
        tracemalloc.stop()
    return size


def measure(
    templates: backup_seeding.Templates, seeded: seeding.Seeded, *, databases: int
) -> dict[str, dict[str, float]]:
    """Bytes per held object by kind, whole and as a reading, over `databases` databases'
    objects (30 Snapshots, 3 BackupSessions and a BackupConfiguration each)."""
    writer = backup_seeding._Writer(templates, 1)
    texts: dict[str, list[str]] = {"Snapshot": [], "BackupSession": [], "BackupConfiguration": []}
    for index in range(min(databases, len(seeded.ids))):
        for kind, text, _, _ in writer.database(seeded, index):
            if kind in texts:
                texts[kind].append(text)
    kept_before: dict[str, Callable[[str], Any]] = {
        "Snapshot": json.loads,
        "BackupSession": json.loads,
        "BackupConfiguration": lambda text: _whose(json.loads(text)),
    }
    kept_now: dict[str, Callable[[str], Any]] = {
        "Snapshot": lambda text: backup_readings.read_snapshot(json.loads(text)),
        "BackupSession": lambda text: backup_readings.read_session(json.loads(text)),
        "BackupConfiguration": lambda text: backup_readings.read_configuration(json.loads(text)),
    }
    figures: dict[str, dict[str, float]] = {}
    for kind, kind_texts in texts.items():
        old, new = kept_before[kind], kept_now[kind]
        before = _traced(lambda old=old, kind_texts=kind_texts: [old(t) for t in kind_texts])
        after = _traced(lambda new=new, kind_texts=kind_texts: [new(t) for t in kind_texts])
        count = len(kind_texts)
        figures[kind] = {
            "objects": count,
            "whole_bytes_each": before / count,
            "reading_bytes_each": after / count,
            "json_bytes_each": sum(map(len, kind_texts)) / count,
        }
    return figures
