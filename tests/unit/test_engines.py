from __future__ import annotations

import pytest

from services.domain import engines
from services.domain.engines import Engine, Topology


def test_there_are_exactly_four_engines_named_as_the_schema_allows() -> None:
    assert [e.value for e in Engine] == ["postgres", "mysql", "mongodb", "redis"]
    assert set(engines.ENGINES) == set(Engine)


@pytest.mark.parametrize(
    ("engine", "kind", "plural", "ops_kind", "ops_plural", "catalog_kind", "catalog_plural"),
    [
        (
            Engine.POSTGRES,
            "Postgres",
            "postgreses",
            "PostgresOpsRequest",
            "postgresopsrequests",
            "PostgresVersion",
            "postgresversions",
        ),
        (
            Engine.MYSQL,
            "MySQL",
            "mysqls",
            "MySQLOpsRequest",
            "mysqlopsrequests",
            "MySQLVersion",
            "mysqlversions",
        ),
        (
            Engine.MONGODB,
            "MongoDB",
            "mongodbs",
            "MongoDBOpsRequest",
            "mongodbopsrequests",
            "MongoDBVersion",
            "mongodbversions",
        ),
        (
            Engine.REDIS,
            "Redis",
            "redises",
            "RedisOpsRequest",
            "redisopsrequests",
            "RedisVersion",
            "redisversions",
        ),
    ],
)
def test_kubedb_kinds_and_plurals(
    engine: Engine,
    kind: str,
    plural: str,
    ops_kind: str,
    ops_plural: str,
    catalog_kind: str,
    catalog_plural: str,
) -> None:
    spec = engines.spec_for(engine)
    assert (spec.kind, spec.plural) == (kind, plural)
    assert (spec.ops_kind, spec.ops_plural) == (ops_kind, ops_plural)
    assert (spec.catalog_kind, spec.catalog_plural) == (catalog_kind, catalog_plural)
    assert spec.api_version == "kubedb.com/v1"
    assert spec.ops_api_version == "ops.kubedb.com/v1alpha1"
    assert spec.catalog_api_version == "catalog.kubedb.com/v1alpha1"
    assert engines.by_kind(kind) is spec
    assert engines.by_kind(ops_kind) is spec


@pytest.mark.parametrize(
    ("engine", "container", "port", "user"),
    [
        (Engine.POSTGRES, "postgres", 5432, "postgres"),
        (Engine.MYSQL, "mysql", 3306, "root"),
        (Engine.MONGODB, "mongodb", 27017, "root"),
        (Engine.REDIS, "redis", 6379, "default"),
    ],
)
def test_container_port_and_default_user(
    engine: Engine, container: str, port: int, user: str
) -> None:
    spec = engines.spec_for(engine.value)
    assert (spec.container, spec.port, spec.default_user) == (container, port, user)


@pytest.mark.parametrize(
    ("engine", "accepted", "refused"),
    [
        (Engine.POSTGRES, [1, 2, 3, 9], [0, 10, -1]),
        (Engine.MYSQL, [1, 3, 5, 9], [0, 2, 10]),
        (Engine.MONGODB, [1, 3, 7], [0, 2, 8]),
        (Engine.REDIS, [1, 2, 5], [0, 6]),
    ],
)
def test_replica_bounds(engine: Engine, accepted: list[int], refused: list[int]) -> None:
    spec = engines.spec_for(engine)
    assert [n for n in accepted if spec.accepts(n)] == accepted
    assert [n for n in refused if spec.accepts(n)] == []


def test_one_replica_is_standalone_and_more_is_the_replicated_topology() -> None:
    for spec in engines.ENGINES.values():
        assert spec.topology(1) is Topology.STANDALONE
        assert spec.topology(spec.replicated.minimum) is Topology.REPLICATED
        assert spec.bounds(Topology.STANDALONE) == engines.ReplicaBounds(1, 1)


def test_postgres_scales_across_topologies_and_the_others_do_not() -> None:
    pg = engines.spec_for(Engine.POSTGRES)
    assert pg.can_scale(1, 3)
    assert pg.can_scale(3, 1)
    assert not pg.can_scale(1, 10)
    for engine in (Engine.MYSQL, Engine.MONGODB, Engine.REDIS):
        spec = engines.spec_for(engine)
        low = spec.replicated.minimum
        assert not spec.can_scale(1, low)
        assert not spec.can_scale(low, 1)
        assert spec.can_scale(low, spec.replicated.maximum)
        assert not spec.can_scale(low, spec.replicated.maximum + 1)


def test_parse_engine_and_spec_for_reject_unknown_engines() -> None:
    assert engines.parse_engine("redis") is Engine.REDIS
    assert engines.parse_engine("Redis") is None
    assert engines.parse_engine("cassandra") is None
    with pytest.raises(ValueError):
        engines.spec_for("cassandra")
    assert engines.by_kind("Cassandra") is None


def test_replica_bounds_render_as_ranges() -> None:
    assert str(engines.ReplicaBounds(1, 1)) == "1"
    assert str(engines.ReplicaBounds(3, 9)) == "3..9"
    assert True not in engines.ReplicaBounds(1, 1)
