"""Upgrade rules: semver constraints, catalog parsing, and the UpdateVersion checks."""

from __future__ import annotations

import dataclasses

import pytest
import semver

from services.domain import versions
from services.domain.versions import CatalogVersion
from services.sim import catalog


def entry(name: str, version: str | None = None, **fields: object) -> CatalogVersion:
    defaults: dict[str, object] = {"engine": "postgres", "distribution": "Official"}
    defaults.update(fields)
    return CatalogVersion(name=name, version=version or name, **defaults)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shipped() -> dict[str, list[CatalogVersion]]:
    parsed: dict[str, list[CatalogVersion]] = {}
    for obj in catalog.catalog_objects():  # the sim's catalog, read by the product's parser
        entry = versions.parse_catalog_object(obj)
        parsed.setdefault(entry.engine, []).append(entry)
    return parsed


def find(entries: list[CatalogVersion], name: str) -> CatalogVersion:
    return next(e for e in entries if e.name == name)


# --- versions and constraints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16.13", (16, 13, 0)),
        ("8.0.31-innodb", (8, 0, 31)),
        ("7.4.6", (7, 4, 6)),
        ("v7", (7, 0, 0)),
        ("10.23", (10, 23, 0)),
    ],
)
def test_catalog_versions_are_normalised_to_semver(text: str, expected: tuple[int, ...]) -> None:
    assert versions.parse_version(text) == semver.Version(*expected)


def test_a_version_without_numbers_is_refused() -> None:
    with pytest.raises(ValueError, match="not a version"):
        versions.parse_version("percona")


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        (">= 16.1, <= 17.9", "16.1", True),
        (">= 16.1, <= 17.9", "17.9.4", True),  # a partial bound covers its patches
        (">= 16.1, <= 17.9", "17.10", False),
        (">= 16.1, <= 17.9", "16.0.9", False),
        ("< 8.4.0", "8.3.99", True),
        ("< 8.4.0", "8.4.0", False),
        ("< 8.4.8", "8.4.8", False),
        (">= 7.0.21, < 9.0.0", "8.0.17", True),
        (">= 7.0.21, < 9.0.0", "9.0.0", False),
        ("8.1.1", "8.1.1", True),
        ("8.1.1", "8.1.2", False),
        ("= 8.1", "8.1.7", True),
        ("8.0.x", "8.0.36", True),
        ("8.0.x", "8.1.0", False),
        ("!= 7.2.4", "7.2.4", False),
        ("!= 7.2.4", "7.2.5", True),
        ("> 1.2", "1.2.9", False),  # "> 1.2" means past every 1.2.x
        ("> 1.2", "1.3.0", True),
        ("> 1.2.3", "1.2.4", True),
        ("~7.2", "7.2.9", True),
        ("~7.2", "7.3.0", False),
        ("~7.2.3", "7.2.2", False),
        ("^8.0", "8.9.0", True),
        ("^8.0", "9.0.0", False),
        ("^0.2.3", "0.3.0", False),
        ("< 7 || >= 9", "6.2.16", True),
        ("< 7 || >= 9", "8.0.4", False),
        ("< 7 || >= 9", "9.1.0", True),
        (">= 5.7.42 < 5.8", "5.7.44", True),  # whitespace also means AND
        (">= 5.7.42 < 5.8", "8.0.36", False),
        (">= 8.0.31-innodb", "8.0.31", True),
        ("*", "4.0.11", True),
    ],
)
def test_constraints_follow_masterminds_semver(
    constraint: str, version: str, expected: bool
) -> None:
    assert versions.satisfies(versions.parse_version(version), constraint) is expected


@pytest.mark.parametrize("constraint", ["", "latest", ">= sixteen", "8.x.1", ">= 1.2 ||"])
def test_malformed_constraints_raise(constraint: str) -> None:
    with pytest.raises(ValueError):
        versions.satisfies(semver.Version(1, 2, 3), constraint)


# --- catalog objects ------------------------------------------------------------------------


def test_a_postgres_catalog_object_is_parsed() -> None:
    obj = {
        "apiVersion": "catalog.kubedb.com/v1alpha1",
        "kind": "PostgresVersion",
        "metadata": {"name": "13.13-bookworm"},
        "spec": {
            "version": "13.13",
            "distribution": "Official",
            "db": {"baseOS": "bookworm", "image": "ghcr.io/appscode-images/postgres:13.13"},
            "endOfLife": True,
            "updateConstraints": {"allowlist": [">= 14.10, <= 16.4"]},
        },
    }
    assert versions.parse_catalog_object(obj) == CatalogVersion(
        engine="postgres",
        name="13.13-bookworm",
        version="13.13",
        deprecated=False,
        end_of_life=True,
        distribution="Official",
        base_os="bookworm",
        allowlist=(">= 14.10, <= 16.4",),
        image="ghcr.io/appscode-images/postgres:13.13",
    )


def test_mysql_constraints_are_read_per_topology() -> None:
    obj = {
        "kind": "MySQLVersion",
        "metadata": {"name": "8.4.8"},
        "spec": {
            "version": "8.4.8",
            "deprecated": True,
            "updateConstraints": {
                "allowlist": {"standalone": [">= 8.4.8"], "groupReplication": ["< 9"]},
                "denylist": {"groupReplication": ["< 8.4.8"]},
            },
        },
    }
    parsed = versions.parse_catalog_object(obj)
    assert (parsed.engine, parsed.deprecated) == ("mysql", True)
    assert parsed.constraints("standalone") == ((">= 8.4.8",), ())
    assert parsed.constraints("groupReplication") == (("< 9",), ("< 8.4.8",))


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "ElasticsearchVersion", "metadata": {"name": "8"}, "spec": {"version": "8"}},
        {"kind": "RedisVersion", "metadata": {"name": "7.4.6"}, "spec": {}},
        {"kind": "RedisVersion", "spec": {"version": "7.4.6"}},
    ],
)
def test_objects_that_are_not_catalog_entries_are_refused(obj: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        versions.parse_catalog_object(obj)


# --- check_upgrade --------------------------------------------------------------------------


def test_an_upgrade_inside_the_allowlist_is_allowed() -> None:
    current = entry("16.4", allowlist=(">= 16.4, <= 17.9",))
    assert versions.check_upgrade(current, entry("17.9")) is None


def test_an_upgrade_outside_the_allowlist_is_refused() -> None:
    current = entry("16.4", allowlist=(">= 16.4, <= 17.9",))
    reason = versions.check_upgrade(current, entry("18.3"))
    assert reason == "18.3 is not an allowed update target of 16.4 (allowed: >= 16.4, <= 17.9)"


def test_any_allowlist_entry_is_enough() -> None:
    current = entry("16.4", allowlist=("16.6", "17.9"))
    assert versions.check_upgrade(current, entry("17.9")) is None
    assert versions.check_upgrade(current, entry("16.8")) is not None


def test_an_empty_allowlist_allows_every_newer_version() -> None:
    assert versions.check_upgrade(entry("10.23"), entry("18.3")) is None


def test_the_denylist_wins_over_the_allowlist() -> None:
    current = entry("8.0.36", engine="mysql", allowlist=(">= 8.0.36",), denylist=("8.2.x",))
    assert versions.check_upgrade(current, entry("8.4.8", engine="mysql")) is None
    reason = versions.check_upgrade(current, entry("8.2.0", engine="mysql"))
    assert reason == "8.2.0 is a denied update target of 8.0.36 (8.2.x)"


def test_downgrades_are_refused_even_when_the_allowlist_is_empty() -> None:
    reason = versions.check_upgrade(entry("17.9"), entry("16.13"))
    assert reason == "downgrades are not supported (17.9 to 16.13)"


def test_the_same_version_is_refused() -> None:
    assert versions.check_upgrade(entry("16.13"), entry("16.13")) == "already at version 16.13"
    reason = versions.check_upgrade(entry("8.0.31", engine="mysql"), entry("8.0.31-v2", "8.0.31"))
    assert reason is not None  # a different engine wins first
    reason = versions.check_upgrade(entry("16.13"), entry("16.13-r1", "16.13"))
    assert reason == "already at version 16.13 (16.13-r1 is the same version)"


def test_a_deprecated_target_is_refused() -> None:
    reason = versions.check_upgrade(entry("15.1"), entry("15.3", deprecated=True))
    assert reason == "version 15.3 is deprecated"


def test_an_end_of_life_target_is_still_allowed() -> None:
    assert versions.check_upgrade(entry("12.15"), entry("12.22", end_of_life=True)) is None


def test_the_engine_cannot_change() -> None:
    reason = versions.check_upgrade(entry("7.4.6", engine="redis"), entry("8.0.4"))
    assert reason == "cannot change the engine from redis to postgres"


def test_the_base_os_cannot_change() -> None:
    current = entry("16.4", base_os="alpine")
    reason = versions.check_upgrade(current, entry("16.13-bookworm", "16.13", base_os="bookworm"))
    assert reason == "cannot change the base OS from alpine to bookworm"
    assert versions.check_upgrade(current, entry("16.13", base_os="alpine")) is None


def test_the_distribution_cannot_change() -> None:
    current = entry("16.4")
    target = entry("timescaledb-2.14.2-pg16", "16.2", distribution="TimescaleDB")
    reason = versions.check_upgrade(current, target)
    assert reason == "cannot change the distribution from Official to TimescaleDB"


def test_mysql_group_replication_uses_its_own_constraints() -> None:
    current = entry(
        "5.7.44",
        engine="mysql",
        allowlist=(">= 5.7.44, <= 8.0.36",),
        group_allowlist=(">= 5.7.44, < 5.8",),
    )
    target = entry("8.0.36", engine="mysql")
    assert versions.check_upgrade(current, target, topology="standalone") is None
    reason = versions.check_upgrade(current, target, topology="groupReplication")
    assert reason == "8.0.36 is not an allowed update target of 5.7.44 (allowed: >= 5.7.44, < 5.8)"


def test_topology_does_not_matter_for_other_engines() -> None:
    current = entry("7.4.6", engine="redis", allowlist=(">= 7.4.6",), group_allowlist=("< 0",))
    target = entry("8.0.4", engine="redis")
    assert versions.check_upgrade(current, target, topology="replicated") is None


def test_an_unreadable_constraint_refuses_the_upgrade() -> None:
    current = entry("16.4", allowlist=("newest please",))
    reason = versions.check_upgrade(current, entry("16.13"))
    assert reason is not None and reason.startswith("the update constraints of 16.4 cannot be")


# --- upgrade_targets, including the shipped catalog ------------------------------------------


def test_upgrade_targets_are_sorted_oldest_first() -> None:
    current = entry("16.4", allowlist=(">= 16.4, <= 17.9",))
    candidates = [entry(n) for n in ("17.9", "16.13", "18.3", "16.1", "16.10", "17.2")]
    candidates.append(entry("17.5", deprecated=True))
    targets = versions.upgrade_targets(current, candidates)
    assert [t.name for t in targets] == ["16.10", "16.13", "17.2", "17.9"]


def test_postgres_16_1_may_reach_17_9_but_not_18(
    shipped: dict[str, list[CatalogVersion]],
) -> None:
    current = find(shipped["postgres"], "16.1")
    names = [t.name for t in versions.upgrade_targets(current, shipped["postgres"])]
    assert names == [
        "16.4", "16.6", "16.8", "16.9", "16.10", "16.12", "16.13",
        "17.2", "17.4", "17.5", "17.8", "17.9",
    ]  # fmt: skip


def test_a_bookworm_postgres_only_moves_to_bookworm_images(
    shipped: dict[str, list[CatalogVersion]],
) -> None:
    current = find(shipped["postgres"], "17.8-bookworm")
    names = [t.name for t in versions.upgrade_targets(current, shipped["postgres"])]
    assert names == ["17.9-bookworm", "18.2-bookworm", "18.3-bookworm"]


def test_the_newest_postgres_has_nowhere_to_go(shipped: dict[str, list[CatalogVersion]]) -> None:
    assert versions.upgrade_targets(find(shipped["postgres"], "18.3"), shipped["postgres"]) == []


def test_a_mysql_5_7_group_stays_on_5_7(shipped: dict[str, list[CatalogVersion]]) -> None:
    current = find(shipped["mysql"], "5.7.42-debian")
    standalone = versions.upgrade_targets(current, shipped["mysql"], topology="standalone")
    group = versions.upgrade_targets(current, shipped["mysql"], topology="groupReplication")
    assert [t.name for t in standalone] == ["5.7.44", "8.0.35", "8.0.36"]
    assert [t.name for t in group] == ["5.7.44"]


def test_mongodb_moves_one_major_at_a_time(shipped: dict[str, list[CatalogVersion]]) -> None:
    current = find(shipped["mongodb"], "5.0.31")
    names = [t.name for t in versions.upgrade_targets(current, shipped["mongodb"])]
    assert names == ["6.0.24"]


def test_valkey_and_redis_do_not_mix(shipped: dict[str, list[CatalogVersion]]) -> None:
    current = find(shipped["redis"], "valkey-7.2.5")
    names = [t.name for t in versions.upgrade_targets(current, shipped["redis"])]
    assert names == ["valkey-7.2.9", "valkey-8.0.3", "valkey-8.1.1"]


def test_shipped_targets_never_downgrade_or_change_flavour(
    shipped: dict[str, list[CatalogVersion]],
) -> None:
    checked = 0
    for entries in shipped.values():
        for current in entries:
            for target in versions.upgrade_targets(current, entries, topology="groupReplication"):
                assert versions.parse_version(target.version) > versions.parse_version(
                    current.version
                )
                assert (target.distribution, target.base_os) == (
                    current.distribution,
                    current.base_os,
                )
                assert not target.deprecated
                checked += 1
    assert checked > 200


def test_catalog_versions_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry("16.4").name = "16.13"  # type: ignore[misc]
