"""Reverse indexes the simulated KubeStash operator keeps from store events.

Why: a database event must reach the BackupConfigurations and RestoreSessions that target
it, and a backup must see its Repository's Snapshots, without scanning a namespace that
may hold thousands of databases and hundreds of thousands of Snapshots (the status-sync
benchmark's 10,000 databases x 30 snapshots). Each index maps an object (namespace, name)
to one value and back. Plain data, rebuilt from the store after a restart.
"""

from __future__ import annotations

from collections.abc import Hashable

Key = tuple[str, str]


class Index:
    def __init__(self) -> None:
        self._value: dict[Key, Hashable] = {}
        self._keys: dict[Hashable, set[Key]] = {}

    def put(self, key: Key, value: Hashable | None) -> None:
        """Index `key` under `value` (None: not indexed any more)."""
        old = self._value.pop(key, None)
        if old is not None:
            keys = self._keys.get(old)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys[old]
        if value is not None:
            self._value[key] = value
            self._keys.setdefault(value, set()).add(key)

    def keys(self, value: Hashable) -> list[Key]:
        return sorted(self._keys.get(value, ()))

    def clear(self) -> None:
        self._value.clear()
        self._keys.clear()

    def __len__(self) -> int:
        return len(self._value)
