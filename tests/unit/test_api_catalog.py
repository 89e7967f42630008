"""The API's catalog cache, over a stand-in for our own `ClusterAccess` boundary."""

from __future__ import annotations

from typing import Any

import pytest

from services.api import cluster_access, problems
from services.clients.kube import KubeError
from services.control.errors import CatalogUnavailable
from services.domain.resources import Resource
from services.sim import catalog as sim_catalog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCluster:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.lists = 0
        self.fail: Exception | None = None

    def list_all(self, resource: Resource) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        if self.fail is not None:
            raise self.fail
        assert resource.group == "catalog.kubedb.com" and not resource.namespaced
        items = [o for o in self.objects if o["kind"] == resource.kind]
        return items, "1"


class FakeAccess(cluster_access.ClusterAccess):
    def __init__(self, fake: FakeCluster | None) -> None:
        super().__init__(None)
        self.fake = fake

    def get(self) -> Any:
        if self.fake is None:
            raise problems.Problem("cluster-unavailable", "no cluster")
        return self.fake


def test_the_catalog_is_read_once_per_ttl_and_then_refreshed() -> None:
    clock = Clock()
    fake = FakeCluster(sim_catalog.catalog_objects())
    cache = cluster_access.CatalogCache(FakeAccess(fake), ttl=30, clock=clock)
    assert cache.fresh() is None
    first = cache.get()
    assert fake.lists == 4  # one list per engine
    clock.now = 29.9
    assert cache.get() is first
    assert cache.fresh() is first
    clock.now = 30.0
    assert cache.fresh() is None
    cache.get()
    assert fake.lists == 8


def test_versions_are_listed_newest_first_per_engine() -> None:
    fake = FakeCluster(sim_catalog.catalog_objects())
    catalog = cluster_access.CatalogCache(FakeAccess(fake)).get()
    assert set(catalog) == {"postgres", "mysql", "mongodb", "redis"}
    numbers = [entry.version for entry in catalog["redis"]]
    assert numbers[0].startswith("8.")
    assert catalog["postgres"][0].name == "18.3"


def test_a_malformed_catalog_object_is_skipped() -> None:
    broken = {"kind": "RedisVersion", "metadata": {"name": "broken"}, "spec": {}}
    objects = [*sim_catalog.catalog_objects(), broken]
    catalog = cluster_access.CatalogCache(FakeAccess(FakeCluster(objects))).get()
    assert "broken" not in {entry.name for entry in catalog["redis"]}


@pytest.mark.parametrize(
    "failure", [KubeError(503, "ServiceUnavailable", "down", []), ConnectionRefusedError()]
)
def test_a_failing_cluster_makes_the_catalog_unavailable(failure: Exception) -> None:
    fake = FakeCluster([])
    fake.fail = failure
    with pytest.raises(CatalogUnavailable):
        cluster_access.CatalogCache(FakeAccess(fake)).get()


def test_an_unreachable_cluster_makes_the_catalog_unavailable() -> None:
    with pytest.raises(CatalogUnavailable) as exc:
        cluster_access.CatalogCache(FakeAccess(None)).get()
    assert exc.value.status == 503


def test_a_missing_kubeconfig_is_a_cluster_unavailable_problem(tmp_path: Any) -> None:
    access = cluster_access.ClusterAccess(str(tmp_path / "missing"))
    with pytest.raises(problems.Problem) as exc:
        access.get()
    assert exc.value.slug == "cluster-unavailable"
