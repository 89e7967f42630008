"""The preloaded version catalog: valid against the real catalog CRDs, realistic content."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

from services.domain import versions
from services.sim import catalog, rules, schemas

KUBEDB_DIR = Path(
    os.environ.get("DBAAS_KUBEDB_DIR")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "kubedb"
)

# Active versions of KubeDB v2026.7.10 as KUBEDB-API.md §3 lists them (abridged there too).
ACTIVE = {
    "PostgresVersion": "18.3 18.2 17.9 17.8 17.5 17.4 17.2 16.13 16.12 16.10 16.9 16.8 16.6 "
    "16.4 16.1 15.17 10.23",
    "MySQLVersion": "9.6.0 9.4.0 9.1.0 9.0.1 8.4.8 8.4.3 8.4.2 8.2.0 8.1.0 8.0.36 8.0.35 "
    "8.0.31-innodb 5.7.44 5.7.42-debian",
    "MongoDBVersion": "8.0.17 8.0.10 7.0.28 7.0.21 6.0.24 5.0.31 4.4.26",
    "RedisVersion": "8.2.2 8.0.4 7.4.6 7.4.1 7.4.0 7.2.6 7.2.4 7.2.3 7.0.15 7.0.14 6.2.16 "
    "6.2.14 6.0.20 5.0.14 4.0.11",
}


@pytest.fixture(scope="module")
def registry() -> schemas.SchemaRegistry:
    return schemas.SchemaRegistry.load(KUBEDB_DIR / "crds")


@pytest.fixture(scope="module")
def by_kind() -> dict[str, dict[str, dict[str, object]]]:
    grouped: dict[str, dict[str, dict[str, object]]] = collections.defaultdict(dict)
    for obj in catalog.catalog_objects():
        grouped[obj["kind"]][obj["metadata"]["name"]] = obj
    return grouped


def test_every_catalog_object_validates_strictly_against_the_catalog_crds(
    registry: schemas.SchemaRegistry,
) -> None:
    objects = catalog.catalog_objects()
    assert len(objects) > 100
    for obj in objects:
        validated, causes = registry.validate(obj, strict=True)
        assert causes == [], obj["metadata"]["name"]
        assert validated["spec"] == obj["spec"]  # nothing pruned, nothing defaulted


def test_catalog_objects_are_cluster_scoped_catalog_kinds(
    registry: schemas.SchemaRegistry,
) -> None:
    for obj in catalog.catalog_objects():
        resource = registry.lookup(obj["apiVersion"], obj["kind"])
        assert resource is not None and not resource.namespaced
        assert set(obj["metadata"]) == {"name"}


def test_names_are_unique_per_kind() -> None:
    names = collections.Counter(
        (o["kind"], o["metadata"]["name"]) for o in catalog.catalog_objects()
    )
    assert [key for key, count in names.items() if count > 1] == []


@pytest.mark.parametrize("kind", sorted(ACTIVE))
def test_the_active_versions_are_offered(
    kind: str, by_kind: dict[str, dict[str, dict[str, object]]]
) -> None:
    for name in ACTIVE[kind].split():
        entry = versions.parse_catalog_object(by_kind[kind][name])
        assert not entry.deprecated, name


@pytest.mark.parametrize("kind", sorted(ACTIVE))
def test_each_engine_has_deprecated_and_end_of_life_versions(
    kind: str, by_kind: dict[str, dict[str, dict[str, object]]]
) -> None:
    entries = [versions.parse_catalog_object(obj) for obj in by_kind[kind].values()]
    assert any(e.deprecated for e in entries)
    assert any(e.end_of_life and not e.deprecated for e in entries)


def test_postgres_13_13_is_end_of_life_as_in_the_real_catalog(
    by_kind: dict[str, dict[str, dict[str, object]]],
) -> None:
    assert versions.parse_catalog_object(by_kind["PostgresVersion"]["13.13"]).end_of_life


def test_postgres_images_match_their_base_os(
    by_kind: dict[str, dict[str, dict[str, object]]],
) -> None:
    pg = versions.parse_catalog_object(by_kind["PostgresVersion"]["16.13"])
    assert (pg.image, pg.base_os) == ("ghcr.io/appscode-images/postgres:16.13-alpine", "alpine")
    bookworm = versions.parse_catalog_object(by_kind["PostgresVersion"]["16.13-bookworm"])
    assert bookworm.image == "ghcr.io/appscode-images/postgres:16.13-bookworm"
    assert bookworm.base_os == "bookworm"


def test_variant_names_differ_from_their_engine_version(
    by_kind: dict[str, dict[str, dict[str, object]]],
) -> None:
    expected = {
        ("PostgresVersion", "timescaledb-2.14.2-pg16"): ("16.2", "TimescaleDB"),
        ("PostgresVersion", "16.2-bullseye-postgis"): ("16.2", "PostGIS"),
        ("MySQLVersion", "8.0.31-innodb"): ("8.0.31", "MySQL"),
        ("MongoDBVersion", "percona-7.0.28"): ("7.0.28", "Percona"),
        ("RedisVersion", "valkey-8.1.1"): ("8.1.1", "Valkey"),
    }
    for (kind, name), (version, distribution) in expected.items():
        entry = versions.parse_catalog_object(by_kind[kind][name])
        assert (entry.version, entry.distribution) == (version, distribution)


def test_mysql_constraints_are_keyed_by_topology(
    by_kind: dict[str, dict[str, dict[str, object]]],
) -> None:
    spec = by_kind["MySQLVersion"]["8.4.8"]["spec"]
    assert spec["updateConstraints"] == {  # type: ignore[index]
        "allowlist": {
            "standalone": [">= 8.4.8, <= 9.6.0"],
            "groupReplication": [">= 8.4.8, <= 9.6.0"],
        },
        "denylist": {"standalone": ["< 8.4.8"], "groupReplication": ["< 8.4.8"]},
    }


def test_every_constraint_in_the_catalog_parses() -> None:
    for obj in catalog.catalog_objects():
        version = rules.parse_version(obj["spec"]["version"])
        topologies = ["standalone", "groupReplication"] if obj["kind"] == "MySQLVersion" else [""]
        for topology in topologies:
            allowlist, denylist = rules.constraints(obj, topology)
            assert allowlist, obj["metadata"]["name"]
            for constraint in allowlist + denylist:
                rules.satisfies(version, constraint)


def test_each_call_returns_fresh_objects() -> None:
    first = catalog.catalog_objects()
    first[0]["spec"]["version"] = "0.0"
    assert catalog.catalog_objects()[0]["spec"]["version"] != "0.0"


def test_the_catalog_covers_the_four_engines() -> None:
    kinds = {obj["kind"] for obj in catalog.catalog_objects()}
    assert kinds == {"PostgresVersion", "MySQLVersion", "MongoDBVersion", "RedisVersion"}
