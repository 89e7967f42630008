"""KubeStash faults: backups and restores that fail or hang, and the clock speed.

The fault document's `kubestash` key (replaced whole when given):

    {"backups":  [{"mode": "fail" | "hang" | "fail-retention", "reason": "...",
                   "database": "namespace/name", "count": 1}],
     "restores": [{"mode": "fail" | "hang", "reason": "...", "database": "ns/name",
                   "count": 1}],
     "clock_speed": 3600}

`database` is the target database (None: any); each rule affects its next `count` runs.
`fail-retention` makes the backup succeed and its retention Job fail, so the Snapshot is
Succeeded while the BackupSession is Failed (KUBESTASH-API.md §4). Plain data, no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.sim.errors import bad_request

BACKUP_MODES = ("fail", "hang", "fail-retention")
RESTORE_MODES = ("fail", "hang")
MAX_CLOCK_SPEED = 10_000_000.0


@dataclasses.dataclass
class StashFault:
    mode: str
    reason: str = "injected failure"
    database: str | None = None
    count: int = 1

    @classmethod
    def parse(cls, data: Any, modes: tuple[str, ...], field: str) -> StashFault:
        if not isinstance(data, dict) or data.get("mode") not in modes:
            raise bad_request(f'a kubestash.{field} fault needs "mode": one of {", ".join(modes)}')
        database = data.get("database")
        if database is not None and (not isinstance(database, str) or "/" not in database):
            raise bad_request(f"kubestash.{field}[].database must be namespace/name")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise bad_request(f"kubestash.{field}[].count must be an integer of at least 1")
        return cls(data["mode"], str(data.get("reason") or "injected failure"), database, count)


@dataclasses.dataclass
class StashFaults:
    backups: list[StashFault] = dataclasses.field(default_factory=list)
    restores: list[StashFault] = dataclasses.field(default_factory=list)
    clock_speed: float = 1.0

    @classmethod
    def parse(cls, data: Any) -> StashFaults:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise bad_request("kubestash must be an object")
        unknown = set(data) - {"backups", "restores", "clock_speed"}
        if unknown:
            raise bad_request(f"kubestash has unknown keys: {', '.join(sorted(unknown))}")
        speed = data.get("clock_speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise bad_request("kubestash.clock_speed must be a number")
        if not 0 < speed <= MAX_CLOCK_SPEED:
            raise bad_request(f"kubestash.clock_speed must be in (0, {MAX_CLOCK_SPEED:g}]")
        return cls(
            backups=[
                StashFault.parse(item, BACKUP_MODES, "backups")
                for item in _items(data.get("backups"))
            ],
            restores=[
                StashFault.parse(item, RESTORE_MODES, "restores")
                for item in _items(data.get("restores"))
            ],
            clock_speed=float(speed),
        )

    def take_backup(self, namespace: str, database: str) -> StashFault | None:
        return _take(self.backups, f"{namespace}/{database}")

    def take_restore(self, namespace: str, database: str) -> StashFault | None:
        return _take(self.restores, f"{namespace}/{database}")

    def to_json(self) -> dict[str, Any]:
        return {
            "backups": [dataclasses.asdict(fault) for fault in self.backups],
            "restores": [dataclasses.asdict(fault) for fault in self.restores],
            "clock_speed": self.clock_speed,
        }


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _take(faults: list[StashFault], database: str) -> StashFault | None:
    for fault in faults:
        if fault.count > 0 and fault.database in (None, database):
            fault.count -= 1
            return fault
    return None
