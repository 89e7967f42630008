"""The KubeDB version catalog the simulated cluster starts with.

A real cluster gets its `catalog.kubedb.com/v1alpha1` objects (PostgresVersion, MySQLVersion,
MongoDBVersion, RedisVersion; cluster-scoped, named by the version users type) from the
`kubedb-catalog` chart. The sim preloads this compact equivalent: the active versions of
KubeDB v2026.7.10 (KUBEDB-API.md §3), a few deprecated and end-of-life ones, and update
constraints shaped like the real catalog's (`>= 16.13, <= 17.9`; MySQL keyed by topology).
Images and helper images follow the real catalog's naming.

Each engine is a small table turned into objects by one function. Every object validates
against the real catalog CRDs (tests/sim/test_catalog.py). This module only builds data:
it never talks to a cluster and never reads files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

API_VERSION = "catalog.kubedb.com/v1alpha1"
_APPSCODE = "ghcr.io/appscode-images"
_KUBEDB = "ghcr.io/kubedb"


@dataclass(frozen=True)
class _Row:
    name: str
    version: str
    image: str
    distribution: str = "Official"
    base_os: str | None = None
    deprecated: bool = False
    end_of_life: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    # MySQL only: the groupReplication lists when they differ from the standalone ones.
    group_allow: tuple[str, ...] | None = None


def _words(text: str) -> list[str]:
    return text.split()


def _major(version: str) -> int:
    return int(version.split(".")[0])


def _upward(version: str, newest: str | None) -> str:
    """The allowlist entry "from this version up to `newest`" (open-ended when None)."""
    return f">= {version}, <= {newest}" if newest else f">= {version}"


# --- Postgres: every official version comes as alpine ("16.13") and bookworm ("16.13-bookworm").

_PG_ACTIVE = _words(
    "18.3 18.2 17.9 17.8 17.5 17.4 17.2 16.13 16.12 16.10 16.9 16.8 16.6 16.4 16.1 "
    "15.17 15.10 14.22 14.21 13.22 13.21 13.13 12.22 11.22 10.23"
)
_PG_DEPRECATED = _words("15.3 14.8 13.11 12.15 11.20 10.20")
_PG_NEWEST_TARGET: dict[int, str | None] = {  # by major: the newest allowed target (None: any)
    18: None,
    17: "18.3",
    16: "17.9",
    15: "16.13",
    14: "15.17",
    13: "14.22",
    12: "13.22",
    11: "12.22",
    10: "11.22",
}
_PG_OLDEST_SUPPORTED_MAJOR = 14  # 13 and older are end of life upstream
_PG_VARIANTS = (
    _Row(
        "timescaledb-2.14.2-pg16",
        "16.2",
        "timescale/timescaledb:2.14.2-pg16",
        "TimescaleDB",
        "alpine",
        allow=(">= 16.2, < 17",),
    ),
    _Row(
        "16.2-bullseye-postgis",
        "16.2",
        "postgis/postgis:16-3.4",
        "PostGIS",
        "bullseye",
        allow=(">= 16.2, < 17",),
    ),
    _Row(
        "15.12-documentdb",
        "15.12",
        f"{_APPSCODE}/postgres-documentdb:15.12",
        "DocumentDB",
        "bookworm",
        allow=("15.12",),
    ),
    _Row(
        "percona-16.12",
        "16.12",
        "percona/percona-distribution-postgresql:16.12",
        "Percona",
        "bookworm",
        allow=(">= 16.12, <= 17.7",),
    ),
    _Row(
        "percona-17.7",
        "17.7",
        "percona/percona-distribution-postgresql:17.7",
        "Percona",
        "bookworm",
        allow=(">= 17.7, < 18",),
    ),
)


def _postgres_rows() -> Iterator[_Row]:
    for version in _PG_ACTIVE + _PG_DEPRECATED:
        major = _major(version)
        for base_os, suffix in (("alpine", ""), ("bookworm", "-bookworm")):
            yield _Row(
                name=version + suffix,
                version=version,
                image=f"{_APPSCODE}/postgres:{version}-{base_os}",
                base_os=base_os,
                deprecated=version in _PG_DEPRECATED,
                end_of_life=major < _PG_OLDEST_SUPPORTED_MAJOR,
                allow=(_upward(version, _PG_NEWEST_TARGET[major]),),
            )
    yield from _PG_VARIANTS


def _postgres_spec(row: _Row) -> dict[str, Any]:
    non_root = row.base_os != "alpine"
    return {
        "db": {"baseOS": row.base_os, "image": row.image},
        "coordinator": {"image": f"{_KUBEDB}/pg-coordinator:v0.49.0"},
        "exporter": {"image": "docker.io/prometheuscommunity/postgres-exporter:v0.18.1"},
        "initContainer": {"image": f"{_KUBEDB}/postgres-init:0.19.0"},
        "podSecurityPolicies": {"databasePolicyName": "postgres-db"},
        "securityContext": {"runAsAnyNonRoot": non_root, "runAsUser": 999 if non_root else 70},
        "updateConstraints": {"allowlist": list(row.allow)},
    }


# --- MySQL: constraints per topology; a 5.7 group cannot cross to 8.0 in place. ---------

_MYSQL_ACTIVE = _words("9.6.0 9.4.0 9.1.0 9.0.1 8.4.8 8.4.3 8.4.2 8.2.0 8.1.0 8.0.36 8.0.35 5.7.44")
_MYSQL_DEPRECATED = _words("8.0.32 8.0.29 5.7.41")
_MYSQL_NEWEST_TARGET: dict[str, str | None] = {  # by release series
    "9": None,
    "8.4": "9.6.0",
    "8.2": "8.4.8",
    "8.1": "8.4.8",
    "8.0": "8.4.8",
    "5.7": "8.0.36",
}
_MYSQL_VARIANTS = (
    _Row(
        "8.0.31-innodb",
        "8.0.31",
        "mysql/mysql-server:8.0.31",
        "MySQL",
        allow=(">= 8.0.31, <= 8.0.36",),
        deny=("< 8.0.31",),
    ),
    _Row(
        "5.7.42-debian",
        "5.7.42",
        f"{_APPSCODE}/mysql:5.7.42-debian",
        end_of_life=True,
        allow=(">= 5.7.42, <= 8.0.36",),
        deny=("< 5.7.42",),
        group_allow=(">= 5.7.42, < 5.8",),
    ),
)


def _mysql_rows() -> Iterator[_Row]:
    for version in _MYSQL_ACTIVE + _MYSQL_DEPRECATED:
        series = "9" if version.startswith("9.") else version.rsplit(".", 1)[0]
        flavour = "debian" if version.startswith(("5.7", "8.0")) else "oracle"
        yield _Row(
            name=version,
            version=version,
            image=f"{_APPSCODE}/mysql:{version}-{flavour}",
            deprecated=version in _MYSQL_DEPRECATED,
            end_of_life=series == "5.7",
            allow=(_upward(version, _MYSQL_NEWEST_TARGET[series]),),
            deny=(f"< {version}",),
            group_allow=(f">= {version}, < 5.8",) if series == "5.7" else None,
        )
    yield from _MYSQL_VARIANTS


def _mysql_spec(row: _Row) -> dict[str, Any]:
    group_allow = row.allow if row.group_allow is None else row.group_allow
    return {
        "db": {"image": row.image},
        "coordinator": {"image": f"{_KUBEDB}/mysql-coordinator:v0.43.0"},
        "exporter": {"image": f"{_KUBEDB}/mysqld-exporter:v0.18.0"},
        "initContainer": {"image": f"{_KUBEDB}/mysql-init:0.1.0"},
        "podSecurityPolicies": {"databasePolicyName": "mysql-db"},
        "replicationModeDetector": {"image": f"{_KUBEDB}/replication-mode-detector:v0.52.0"},
        "router": {"image": f"{_APPSCODE}/mysql-router:8.4.8"},
        "routerInitContainer": {"image": f"{_KUBEDB}/mysql-router-init:v0.43.0"},
        "securityContext": {"runAsUser": 999},
        "updateConstraints": {
            "allowlist": {"standalone": list(row.allow), "groupReplication": list(group_allow)},
            "denylist": {"standalone": list(row.deny), "groupReplication": list(row.deny)},
        },
    }


# --- MongoDB: one major at a time (4.4 -> 5.0 -> 6.0 ...), as MongoDB requires. --------

_MONGO_ACTIVE = _words("8.0.17 8.0.10 7.0.28 7.0.21 6.0.24 5.0.31 4.4.26")
_MONGO_DEPRECATED = _words("8.0.4 7.0.16 6.0.12 5.0.23")
_MONGO_PERCONA = _words("8.0.17 7.0.28 6.0.24 5.0.29 4.4.26")
_MONGO_END_OF_LIFE_BELOW = 7


def _mongodb_rows() -> Iterator[_Row]:
    official = [
        (v, "Official", f"{_APPSCODE}/mongo:{v}") for v in _MONGO_ACTIVE + _MONGO_DEPRECATED
    ]
    percona = [(v, "Percona", f"percona/percona-server-mongodb:{v}") for v in _MONGO_PERCONA]
    for version, distribution, image in official + percona:
        major = _major(version)
        yield _Row(
            name=version if distribution == "Official" else f"percona-{version}",
            version=version,
            image=image,
            distribution=distribution,
            deprecated=version in _MONGO_DEPRECATED,
            end_of_life=major < _MONGO_END_OF_LIFE_BELOW,
            allow=(f">= {version}, < {major + 2}.0.0",),
        )


def _mongodb_spec(row: _Row) -> dict[str, Any]:
    return {
        "db": {"image": row.image},
        "exporter": {"image": f"{_KUBEDB}/mongodb_exporter:v0.40.0"},
        "initContainer": {"image": f"{_KUBEDB}/mongodb-init:6.0-v11"},
        "podSecurityPolicies": {"databasePolicyName": "mongodb-db"},
        "replicationModeDetector": {"image": f"{_KUBEDB}/replication-mode-detector:v0.52.0"},
        "securityContext": {"runAsUser": 999, "runAsGroup": 999},
        "updateConstraints": {"allowlist": list(row.allow)},
    }


# --- Redis (and Valkey, a distribution of its own). --------------------------------------

_REDIS_ACTIVE = _words(
    "8.2.2 8.0.4 7.4.6 7.4.1 7.4.0 7.2.6 7.2.4 7.2.3 7.0.15 7.0.14 6.2.16 6.2.14 6.0.20 "
    "5.0.14 4.0.11"
)
_REDIS_DEPRECATED = _words("7.2.0 7.0.10 6.2.11 6.0.18")
_REDIS_NEWEST_TARGET: dict[int, str | None] = {
    8: None,
    7: "8.0.4",
    6: "7.4.6",
    5: "6.2.16",
    4: "5.0.14",
}
_REDIS_END_OF_LIFE_BELOW = 7
_VALKEY = _words("8.1.1 8.0.3 7.2.9 7.2.5")


def _redis_rows() -> Iterator[_Row]:
    for version in _REDIS_ACTIVE + _REDIS_DEPRECATED:
        major = _major(version)
        yield _Row(
            name=version,
            version=version,
            image=f"{_APPSCODE}/redis:{version}-bookworm",
            deprecated=version in _REDIS_DEPRECATED,
            end_of_life=major < _REDIS_END_OF_LIFE_BELOW,
            allow=(_upward(version, _REDIS_NEWEST_TARGET[major]),),
        )
    for version in _VALKEY:
        yield _Row(
            name=f"valkey-{version}",
            version=version,
            image=f"{_APPSCODE}/valkey:{version}",
            distribution="Valkey",
            allow=(f">= {version}, <= {_VALKEY[0]}",),
        )


def _redis_spec(row: _Row) -> dict[str, Any]:
    return {
        "db": {"image": row.image},
        "coordinator": {"image": f"{_KUBEDB}/redis-coordinator:v0.44.0"},
        "exporter": {"image": f"{_KUBEDB}/redis_exporter:1.66.0"},
        "initContainer": {"image": f"{_KUBEDB}/redis-init:0.12.1"},
        "podSecurityPolicies": {"databasePolicyName": "redis-db"},
        "securityContext": {"runAsUser": 1000 if row.distribution == "Valkey" else 999},
        "updateConstraints": {"allowlist": list(row.allow)},
    }


_ENGINES = (
    ("PostgresVersion", _postgres_rows, _postgres_spec),
    ("MySQLVersion", _mysql_rows, _mysql_spec),
    ("MongoDBVersion", _mongodb_rows, _mongodb_spec),
    ("RedisVersion", _redis_rows, _redis_spec),
)


def catalog_objects() -> list[dict[str, Any]]:
    """Fresh catalog objects, ready to store in the simulated cluster."""
    objects = []
    for kind, rows, build_spec in _ENGINES:
        for row in rows():
            spec: dict[str, Any] = {"version": row.version, "distribution": row.distribution}
            spec.update(build_spec(row))
            if row.deprecated:
                spec["deprecated"] = True
            if row.end_of_life:
                spec["endOfLife"] = True
            objects.append(
                {
                    "apiVersion": API_VERSION,
                    "kind": kind,
                    "metadata": {"name": row.name},
                    "spec": spec,
                }
            )
    return objects
