"""The four database engines and the KubeDB facts we build on for each of them.

Why: every layer (validation, manifests, the worker, status-sync, drift) needs the same
per-engine facts — kinds and plurals of the DB CR, its OpsRequest and catalog, the main
container, the port, the replica bounds — and they must agree. This module is their only
home. It is pure data; it never talks to a cluster.

Topology is decided by `replicas` and fixed at creation (the API exposes no topology field):

- `replicas == 1` -> standalone.
- `replicas > 1`  -> the engine's main replicated topology:

  | engine   | replicated topology                                     | replicas |
  |----------|---------------------------------------------------------|----------|
  | postgres | streaming-replication cluster: `spec.replicas` = N,     | 2..9     |
  |          | `standbyMode: Hot`, `streamingMode: Asynchronous`        |          |
  | mysql    | `spec.topology.mode: GroupReplication`, Single-Primary   | 3..9     |
  | mongodb  | replica set `spec.replicaSet.name: rs0`                  | 3..7     |
  | redis    | `spec.mode: Cluster`, `spec.cluster.shards: 3`,          | 2..5     |
  |          | `spec.cluster.replicas` = N nodes per shard (master incl.) |        |

Bounds, and why:
- Postgres: a standalone Postgres and a cluster differ only in `spec.replicas` (KubeDB adds or
  removes standbys with a HorizontalScaling OpsRequest), so Postgres scales freely in 1..9.
  Nine members (a primary and eight standbys) keeps the coordinator's raft group small.
- MySQL: KubeDB's group size is 3..9 (`MySQLDefaultGroupSize` 3, `MySQLMaxGroupMembers` 9);
  a group smaller than 3 tolerates no failure.
- MongoDB: 3 is the smallest replica set that still elects a primary after losing a member
  (we deploy no arbiters); 7 is MongoDB's limit of voting members and every member votes.
- Redis: a cluster needs at least 3 masters (KubeDB's default, `shards: 3`); 2 nodes per shard
  is the smallest that survives losing a master, 5 (a master and four replicas) is plenty.
- For MySQL, MongoDB and Redis, standalone and replicated are different objects (no topology ->
  GroupReplication, no replicaSet -> replicaSet, Standalone -> Cluster mode), which a
  HorizontalScaling OpsRequest cannot convert: crossing that boundary is rejected.
"""

from __future__ import annotations

import dataclasses
from enum import Enum

DB_GROUP = "kubedb.com"
DB_VERSION = "v1"
OPS_GROUP = "ops.kubedb.com"
OPS_VERSION = "v1alpha1"
CATALOG_GROUP = "catalog.kubedb.com"
CATALOG_VERSION = "v1alpha1"

MONGODB_REPLICA_SET_NAME = "rs0"
REDIS_CLUSTER_SHARDS = 3


class Engine(str, Enum):
    POSTGRES = "postgres"
    MYSQL = "mysql"
    MONGODB = "mongodb"
    REDIS = "redis"

    def __str__(self) -> str:  # f"{engine}" is "postgres", not "Engine.POSTGRES"
        return self.value


class Topology(str, Enum):
    STANDALONE = "standalone"
    REPLICATED = "replicated"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class ReplicaBounds:
    minimum: int
    maximum: int

    def __contains__(self, replicas: object) -> bool:
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return False
        return self.minimum <= replicas <= self.maximum

    def __str__(self) -> str:
        if self.minimum == self.maximum:
            return str(self.minimum)
        return f"{self.minimum}..{self.maximum}"


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    engine: Engine
    kind: str  # DB CR kind, kubedb.com/v1
    plural: str
    ops_kind: str  # ops.kubedb.com/v1alpha1
    ops_plural: str
    catalog_kind: str  # catalog.kubedb.com/v1alpha1, cluster-scoped
    catalog_plural: str
    container: str  # main container name in spec.podTemplate.spec.containers
    port: int
    default_user: str
    standalone: ReplicaBounds
    replicated: ReplicaBounds
    replicated_topology: str  # human name of the replicated topology
    scales_across_topologies: bool  # can HorizontalScaling go 1 <-> N?

    @property
    def api_version(self) -> str:
        return f"{DB_GROUP}/{DB_VERSION}"

    @property
    def ops_api_version(self) -> str:
        return f"{OPS_GROUP}/{OPS_VERSION}"

    @property
    def catalog_api_version(self) -> str:
        return f"{CATALOG_GROUP}/{CATALOG_VERSION}"

    @property
    def max_replicas(self) -> int:
        return self.replicated.maximum

    def topology(self, replicas: int) -> Topology:
        """Standalone for one replica, the replicated topology for more."""
        return Topology.STANDALONE if replicas <= 1 else Topology.REPLICATED

    def bounds(self, topology: Topology) -> ReplicaBounds:
        return self.standalone if topology is Topology.STANDALONE else self.replicated

    def accepts(self, replicas: int) -> bool:
        """Whether a database of this engine may have `replicas` (in either topology)."""
        return replicas in self.standalone or replicas in self.replicated

    def can_scale(self, current: int, target: int) -> bool:
        """Whether a HorizontalScaling from `current` to `target` keeps a supported topology."""
        if not self.accepts(target):
            return False
        return self.scales_across_topologies or self.topology(current) is self.topology(target)


ENGINES: dict[Engine, EngineSpec] = {
    Engine.POSTGRES: EngineSpec(
        engine=Engine.POSTGRES,
        kind="Postgres",
        plural="postgreses",
        ops_kind="PostgresOpsRequest",
        ops_plural="postgresopsrequests",
        catalog_kind="PostgresVersion",
        catalog_plural="postgresversions",
        container="postgres",
        port=5432,
        default_user="postgres",
        standalone=ReplicaBounds(1, 1),
        replicated=ReplicaBounds(2, 9),
        replicated_topology="streaming-replication cluster",
        scales_across_topologies=True,
    ),
    Engine.MYSQL: EngineSpec(
        engine=Engine.MYSQL,
        kind="MySQL",
        plural="mysqls",
        ops_kind="MySQLOpsRequest",
        ops_plural="mysqlopsrequests",
        catalog_kind="MySQLVersion",
        catalog_plural="mysqlversions",
        container="mysql",
        port=3306,
        default_user="root",
        standalone=ReplicaBounds(1, 1),
        replicated=ReplicaBounds(3, 9),
        replicated_topology="group replication (single-primary)",
        scales_across_topologies=False,
    ),
    Engine.MONGODB: EngineSpec(
        engine=Engine.MONGODB,
        kind="MongoDB",
        plural="mongodbs",
        ops_kind="MongoDBOpsRequest",
        ops_plural="mongodbopsrequests",
        catalog_kind="MongoDBVersion",
        catalog_plural="mongodbversions",
        container="mongodb",
        port=27017,
        default_user="root",
        standalone=ReplicaBounds(1, 1),
        replicated=ReplicaBounds(3, 7),
        replicated_topology="replica set",
        scales_across_topologies=False,
    ),
    Engine.REDIS: EngineSpec(
        engine=Engine.REDIS,
        kind="Redis",
        plural="redises",
        ops_kind="RedisOpsRequest",
        ops_plural="redisopsrequests",
        catalog_kind="RedisVersion",
        catalog_plural="redisversions",
        container="redis",
        port=6379,
        default_user="default",
        standalone=ReplicaBounds(1, 1),
        replicated=ReplicaBounds(2, 5),
        replicated_topology=f"cluster ({REDIS_CLUSTER_SHARDS} shards)",
        scales_across_topologies=False,
    ),
}


def parse_engine(value: str) -> Engine | None:
    """The engine named `value`, or None when there is no such engine."""
    try:
        return Engine(value)
    except ValueError:
        return None


def spec_for(engine: Engine | str) -> EngineSpec:
    """The facts of `engine`; raises ValueError for an unknown engine name."""
    return ENGINES[Engine(engine)]


def by_kind(kind: str) -> EngineSpec | None:
    """The engine whose DB CR or OpsRequest kind is `kind`."""
    for spec in ENGINES.values():
        if kind in (spec.kind, spec.ops_kind):
            return spec
    return None
