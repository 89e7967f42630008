"""The KubeDB facts the simulated operator works with: groups, versions, and per-engine names.

Written from KUBEDB-API.md (§1.1, §2, §3, §4) and owned by the sim: nothing here comes from
the product's `services.domain` (an import-linter contract in pyproject.toml keeps it so),
so a wrong fact in dbaas cannot be agreed with by construction. Names only; the rules are in
`rules.py`.
"""

from __future__ import annotations

import dataclasses
from enum import Enum

DB_GROUP, DB_VERSION = "kubedb.com", "v1"
OPS_GROUP, OPS_VERSION = "ops.kubedb.com", "v1alpha1"
CATALOG_GROUP, CATALOG_VERSION = "catalog.kubedb.com", "v1alpha1"


class Engine(str, Enum):
    POSTGRES = "postgres"
    MYSQL = "mysql"
    MONGODB = "mongodb"
    REDIS = "redis"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    engine: Engine
    kind: str
    plural: str
    ops_kind: str
    ops_plural: str
    catalog_kind: str
    catalog_plural: str
    container: str
    """The main container in `spec.podTemplate.spec.containers` (KUBEDB-API.md §1.2)."""
    port: int
    default_user: str
    """The user of the `<name>-auth` Secret (§4)."""


def _spec(engine: Engine, kind: str, plural: str, port: int, user: str) -> EngineSpec:
    singular = kind.lower()
    return EngineSpec(
        engine=engine,
        kind=kind,
        plural=plural,
        ops_kind=f"{kind}OpsRequest",
        ops_plural=f"{singular}opsrequests",
        catalog_kind=f"{kind}Version",
        catalog_plural=f"{singular}versions",
        container=singular,
        port=port,
        default_user=user,
    )


ENGINES: dict[Engine, EngineSpec] = {
    Engine.POSTGRES: _spec(Engine.POSTGRES, "Postgres", "postgreses", 5432, "postgres"),
    Engine.MYSQL: _spec(Engine.MYSQL, "MySQL", "mysqls", 3306, "root"),
    Engine.MONGODB: _spec(Engine.MONGODB, "MongoDB", "mongodbs", 27017, "root"),
    Engine.REDIS: _spec(Engine.REDIS, "Redis", "redises", 6379, "default"),
}


def by_kind(kind: str) -> EngineSpec | None:
    """The engine whose database or OpsRequest kind is `kind`."""
    for spec in ENGINES.values():
        if kind in (spec.kind, spec.ops_kind):
            return spec
    return None
