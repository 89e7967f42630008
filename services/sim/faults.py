"""Switchable faults and request counters.

The fault state is plain data, set through the admin endpoint (`/sim/faults`) or the CLI
(`dbaas sim faults`): injected error answers per verb and resource (500, 503, 429 with
Retry-After), added latency (before the request is handled, or after it: the change is made
and its answer held back), periodic dropping of watch connections, and the next
OpsRequest(s) failing or hanging; under the key `kubestash` (services/sim/kubestash/faults.py)
backups and restores failing or hanging, and the KubeStash clock's speed. The draws of the
injected errors (which request fails, with which code) come from one generator, seeded by the
document's `seed`: a given seed and the same order of requests give the same errors, so a
fault test can be replayed. Database
phases (Critical/NotReady) are faults too but live with the operator, which owns status.
`Stats` counts requests per verb and resource and OpsRequest creations per name (surviving
the OpsRequest's deletion), so tests of other components can assert how the cluster was
used. Nothing here performs I/O.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import random
from typing import Any

from services.sim.errors import ApiError, bad_request, injected
from services.sim.kubestash.faults import StashFaults

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def _number(
    value: Any, field: str, *, low: float, high: float | None = None, integer: bool = False
) -> Any:
    """`value` if it is a number (an integer if asked) in [low, high], else a 400."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise bad_request(f"{field} must be {'an integer' if integer else 'a number'}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"{field} must be {bound}")
    return value


def _strings(value: Any, field: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part for part in value.split(",") if part]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"{field} must be a list of strings")
    return frozenset(value)


@dataclasses.dataclass
class ErrorRule:
    codes: list[int]
    rate: float = 1.0
    verbs: frozenset[str] | None = None
    resources: frozenset[str] | None = None
    count: int | None = None
    """How many more times the rule fires; None = until cleared."""
    retry_after: int = 1

    @classmethod
    def parse(cls, data: Any) -> ErrorRule:
        if not isinstance(data, dict):
            raise bad_request("an error rule must be an object")
        codes = data.get("codes", [500])
        if isinstance(codes, int):
            codes = [codes]
        if not codes or not all(isinstance(code, int) and 400 <= code < 600 for code in codes):
            raise bad_request("codes must be HTTP error codes (400-599)")
        verbs = _strings(data.get("verbs"), "verbs")
        if verbs and not verbs <= set(VERBS):
            raise bad_request(f"verbs must be among {', '.join(VERBS)}")
        count = data.get("count")
        return cls(
            codes=list(codes),
            rate=float(_number(data.get("rate", 1.0), "rate", low=0, high=1)),
            verbs=verbs,
            resources=_strings(data.get("resources"), "resources"),
            count=None if count is None else _number(count, "count", low=0, integer=True),
            retry_after=_number(data.get("retry_after", 1), "retry_after", low=0, integer=True),
        )

    def matches(self, verb: str, resource: str) -> bool:
        if self.verbs is not None and verb not in self.verbs:
            return False
        if self.resources is None:
            return True
        plural = resource.split(".", 1)[0]
        base = plural.split("/", 1)[0]
        return bool({resource, plural, base} & self.resources)

    def to_json(self) -> dict[str, Any]:
        return {
            "codes": self.codes,
            "rate": self.rate,
            "verbs": sorted(self.verbs) if self.verbs is not None else None,
            "resources": sorted(self.resources) if self.resources is not None else None,
            "count": self.count,
            "retry_after": self.retry_after,
        }


@dataclasses.dataclass
class OpsFault:
    mode: str
    """`fail` (Failed with `reason`) or `hang` (stays Progressing)."""
    reason: str = "injected failure"
    database: str | None = None
    """`namespace/name` of the database whose next OpsRequest is affected; None = any."""
    count: int = 1

    @classmethod
    def parse(cls, data: Any) -> OpsFault:
        if not isinstance(data, dict) or data.get("mode") not in ("fail", "hang"):
            raise bad_request('an ops fault needs "mode": "fail" or "hang"')
        return cls(
            mode=data["mode"],
            reason=str(data.get("reason") or "injected failure"),
            database=data.get("database"),
            count=_number(data.get("count", 1), "ops count", low=1, integer=True),
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Faults:
    errors: list[ErrorRule] = dataclasses.field(default_factory=list)
    latency: float = 0.0
    latency_verbs: frozenset[str] | None = None
    latency_after: bool = False
    """Hold the answer back instead of the request: the change is made at once, the client
    hears of it only after the latency (a reply lost or slow on its way back)."""
    watch_drop_interval: float | None = None
    ops: list[OpsFault] = dataclasses.field(default_factory=list)
    seed: int | None = None
    """What seeded `draws`; None: the operating system's entropy (each run differs)."""
    draws: random.Random = dataclasses.field(default_factory=random.Random, repr=False)
    kubestash: StashFaults = dataclasses.field(default_factory=StashFaults)
    """Backups and restores that fail or hang, the KubeStash clock's speed."""

    def update(self, data: Any) -> None:
        """Apply a partial fault document: each key given replaces that fault. All or
        nothing: a document with one malformed key changes no fault."""
        draft = copy.copy(self)
        draft._apply(data)
        vars(self).update(vars(draft))

    def _apply(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise bad_request("the fault document must be a JSON object")
        if "seed" in data:
            seed = data["seed"]
            self.seed = None if seed is None else _number(seed, "seed", low=0, integer=True)
            self.draws = random.Random(self.seed)
        if "errors" in data:
            rules = data["errors"] or []
            self.errors = [
                ErrorRule.parse(rule) for rule in (rules if isinstance(rules, list) else [rules])
            ]
        if "latency" in data:
            latency = data["latency"] or {}
            if isinstance(latency, (int, float)):
                latency = {"seconds": latency}
            if not isinstance(latency, dict):
                raise bad_request("latency must be a number of seconds or an object")
            seconds = _number(latency.get("seconds", 0.0), "latency.seconds", low=0)
            self.latency = float(seconds)
            self.latency_verbs = _strings(latency.get("verbs"), "latency.verbs")
            after = latency.get("after", False)
            if not isinstance(after, bool):
                raise bad_request("latency.after must be true or false")
            self.latency_after = after
        if "watch_drop" in data:
            drop = data["watch_drop"] or {}
            if not isinstance(drop, dict):
                raise bad_request('watch_drop must be an object: {"interval": seconds}')
            interval = drop.get("interval")
            if interval is not None:
                interval = _number(interval, "watch_drop.interval", low=0)
            self.watch_drop_interval = float(interval) if interval else None
        if "kubestash" in data:
            self.kubestash = StashFaults.parse(data["kubestash"])
        if "ops" in data:
            faults = data["ops"] or []
            self.ops = [
                OpsFault.parse(fault)
                for fault in (faults if isinstance(faults, list) else [faults])
            ]

    def error_for(self, verb: str, resource: str) -> ApiError | None:
        for rule in self.errors:
            if rule.count is not None and rule.count <= 0:
                continue
            if not rule.matches(verb, resource) or self.draws.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
            return injected(self.draws.choice(rule.codes), retry_after=rule.retry_after)
        return None

    def delay_for(self, verb: str) -> float:
        if self.latency <= 0:
            return 0.0
        if self.latency_verbs is not None and verb not in self.latency_verbs:
            return 0.0
        return self.latency

    def take_ops_fault(self, namespace: str, database: str) -> OpsFault | None:
        """Consume the first ops fault that applies to this database's next OpsRequest."""
        for fault in self.ops:
            if fault.count <= 0:
                continue
            if fault.database not in (None, f"{namespace}/{database}"):
                continue
            fault.count -= 1
            return fault
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "errors": [rule.to_json() for rule in self.errors],
            "latency": {
                "seconds": self.latency,
                "verbs": sorted(self.latency_verbs) if self.latency_verbs is not None else None,
                "after": self.latency_after,
            },
            "watch_drop": {"interval": self.watch_drop_interval},
            "ops": [fault.to_json() for fault in self.ops],
            "seed": self.seed,
            "kubestash": self.kubestash.to_json(),
        }


class Stats:
    """Request counters per verb and resource; OpsRequest creations per namespace/name."""

    def __init__(self) -> None:
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self.ops_created: collections.Counter[str] = collections.Counter()
        self.injected: collections.Counter[int] = collections.Counter()
        self.watch_drops = 0
        self.held_answers = 0
        """Answers being held back right now by `latency.after` (the change already made)."""

    def reset(self) -> None:
        self.requests.clear()
        self.ops_created.clear()
        self.injected.clear()
        self.watch_drops = 0

    def to_json(self) -> dict[str, Any]:
        requests: dict[str, dict[str, int]] = {}
        for (verb, resource), count in sorted(self.requests.items()):
            requests.setdefault(verb, {})[resource] = count
        return {
            "requests": requests,
            "total_requests": sum(self.requests.values()),
            "opsrequests_created": dict(sorted(self.ops_created.items())),
            "injected_errors": {str(code): n for code, n in sorted(self.injected.items())},
            "watch_drops": self.watch_drops,
            "held_answers": self.held_answers,
        }
