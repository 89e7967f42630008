"""One table of requests, with what KubeDB does and what dbaas's API does, run against both.

`tests/sim/test_kubedb_cases.py` runs each case against the simulated KubeDB (whose rules
are its own, `services/sim/rules.py`, from KUBEDB-API.md) and
`tests/integration/test_api_kubedb_cases.py` against dbaas's API. Where the two disagree
the case says which way and why, and the API test asserts that dbaas's behaviour is the
intended one: dbaas is stricter than KubeDB on purpose (a narrower offering), and refuses at
the request what KubeDB refuses at its OpsRequest webhook or fails later in the OpsRequest.

A case starts from one database (`start`, in API terms: a create request) and makes one
change (`change`: `replicas`, `storage`, `version`, or `delete`), or none (the create itself
is the request). In KubeDB terms: the create is a database object; `replicas` a
HorizontalScaling, `storage` a VolumeExpansion, `version` an UpdateVersion OpsRequest;
`delete` a delete of the object.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Outcome:
    accepted: bool
    says: str = ""
    """KubeDB: a fragment of the refusal or the Failed condition's message. dbaas: the
    problem type slug of the refusal, or `NO_CHANGE` for an acceptance that changes nothing."""


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    start: dict[str, Any]
    change: dict[str, Any] | None
    kubedb: Outcome
    dbaas: Outcome
    why: str = ""
    """Set when the two differ: which way, and why dbaas's answer is the intended one."""

    @property
    def engine(self) -> str:
        return str(self.start.get("engine", "postgres"))


def _pg(**fields: Any) -> dict[str, Any]:
    return {"engine": "postgres", "version": "16.4", "storage": "10Gi", "replicas": 1} | fields


ACCEPT = Outcome(True)
NO_CHANGE = "no-change"
"""dbaas accepts the request as a repetition of the current values: no new generation."""
CASES = [
    Case(
        "create-zero-replicas",
        _pg(replicas=0),
        None,
        kubedb=Outcome(False, 'spec.replicas "0" invalid. Value must be greater than zero'),
        dbaas=Outcome(False, "validation-failed"),
    ),
    Case(
        "create-twelve-postgres-replicas",
        _pg(replicas=12),
        None,
        kubedb=ACCEPT,
        dbaas=Outcome(False, "validation-failed"),
        why="dbaas refuses what KubeDB accepts: it offers Postgres clusters of at most 9 "
        "replicas (its supported shapes); KubeDB sets no upper bound",
    ),
    Case("scale-postgres-1-to-3", _pg(), {"replicas": 3}, kubedb=ACCEPT, dbaas=ACCEPT),
    Case(
        "shrink-storage",
        _pg(),
        {"storage": "5Gi"},
        kubedb=Outcome(False, "desired storage size must be greater than current storage"),
        dbaas=Outcome(False, "validation-failed"),
    ),
    Case(
        "same-storage-in-other-units",
        _pg(),
        {"storage": "10240Mi"},
        kubedb=Outcome(False, "desired storage size must be greater than current storage"),
        dbaas=Outcome(True, NO_CHANGE),
        why="dbaas accepts what KubeDB would fail: 10240Mi is the current size, so dbaas "
        "records no change and sends no OpsRequest (a VolumeExpansion to the same size would "
        "end Failed)",
    ),
    Case("grow-storage", _pg(), {"storage": "20Gi"}, kubedb=ACCEPT, dbaas=ACCEPT),
    Case("upgrade-within-constraints", _pg(), {"version": "17.9"}, kubedb=ACCEPT, dbaas=ACCEPT),
    Case(
        "upgrade-beyond-constraints",
        _pg(),
        {"version": "18.3"},
        kubedb=Outcome(False, "it is not in the list of upgradable versions"),
        dbaas=Outcome(False, "validation-failed"),
    ),
    Case(
        "downgrade",
        _pg(),
        {"version": "16.1"},
        kubedb=Outcome(False, "it is not in the list of upgradable versions"),
        dbaas=Outcome(False, "validation-failed"),
    ),
    Case(
        "upgrade-onto-a-deprecated-version",
        _pg(version="14.21"),
        {"version": "15.3"},
        kubedb=ACCEPT,
        dbaas=Outcome(False, "validation-failed"),
        why="dbaas refuses what KubeDB accepts: KubeDB's update check reads only the "
        "constraints, but it refuses to create a database on a deprecated version, so a "
        "database moved there could not be re-created or restored; dbaas never moves one there",
    ),
    Case(
        "scale-standalone-mysql-to-a-group",
        {"engine": "mysql", "version": "8.4.8", "storage": "10Gi", "replicas": 1},
        {"replicas": 3},
        kubedb=Outcome(False, "horizontal scaling is not supported for standalone MySQL"),
        dbaas=Outcome(False, "validation-failed"),
    ),
    Case(
        "delete-do-not-terminate",
        _pg(deletion_policy="DoNotTerminate"),
        {"delete": True},
        kubedb=Outcome(False, "can't be terminated. To delete, change spec.deletionPolicy"),
        dbaas=Outcome(False, "deletion-protected"),
    ),
]
