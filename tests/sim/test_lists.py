"""Lists: label and field selectors, limit/continue pagination, resourceVersion, 410."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.fixtures_sim import SimCluster
from tests.sim.kube import DB_GROUP, DB_VERSION, NS, Kube, expect_error


def _secrets(kube: Kube, labels_by_name: dict[str, dict[str, str]], namespace: str = NS) -> None:
    for name, labels in labels_by_name.items():
        kube.core.create_namespaced_secret(
            namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )


def _names(kube: Kube, namespace: str = NS, **kwargs: object) -> list[str]:
    return [s.metadata.name for s in kube.core.list_namespaced_secret(namespace, **kwargs).items]


@pytest.fixture
def labelled(kube: Kube) -> Kube:
    _secrets(
        kube,
        {
            "a": {"app": "pg", "tier": "gold"},
            "b": {"app": "pg", "tier": "silver"},
            "c": {"app": "my"},
            "d": {},
        },
    )
    return kube


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=pg", ["a", "b"]),
        ("app==pg", ["a", "b"]),
        ("app!=pg", ["c", "d"]),
        ("tier in (gold,bronze)", ["a"]),
        ("tier notin (gold)", ["b", "c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("app=pg,tier=silver", ["b"]),
        ("app in (pg, my),!tier", ["c"]),
    ],
)
def test_label_selectors_select_like_a_real_server(
    labelled: Kube, selector: str, expected: list[str]
) -> None:
    assert _names(labelled, label_selector=selector) == expected


def test_a_malformed_label_selector_is_400(labelled: Kube) -> None:
    status = expect_error(400, labelled.core.list_namespaced_secret, NS, label_selector="app in pg")
    assert status["reason"] == "BadRequest"


def test_field_selectors_on_name_and_namespace(labelled: Kube) -> None:
    labelled.namespace("other")
    _secrets(labelled, {"a": {}}, namespace="other")
    assert _names(labelled, field_selector="metadata.name=b") == ["b"]
    assert _names(labelled, field_selector="metadata.name!=b") == ["a", "c", "d"]
    everywhere = labelled.core.list_secret_for_all_namespaces(
        field_selector="metadata.name=a"
    ).items
    assert sorted(s.metadata.namespace for s in everywhere) == [NS, "other"]
    only_other = labelled.core.list_secret_for_all_namespaces(
        field_selector="metadata.namespace=other"
    ).items
    assert [s.metadata.name for s in only_other] == ["a"]


def test_an_unknown_field_selector_is_400(labelled: Kube) -> None:
    status = expect_error(
        400,
        labelled.custom.list_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        field_selector="spec.x=1",
    )
    assert "not a known field selector" in status["message"]


def test_a_list_carries_the_current_resource_version(labelled: Kube) -> None:
    listed = labelled.core.list_namespaced_secret(NS)
    created = labelled.core.create_namespaced_secret(
        NS, client.V1Secret(metadata=client.V1ObjectMeta(name="e"))
    )
    assert int(listed.metadata.resource_version) < int(created.metadata.resource_version)


def test_pagination_walks_every_item_once_with_continue_tokens(sim: SimCluster, kube: Kube) -> None:
    _secrets(kube, {f"s{i:03d}": {"batch": "x"} for i in range(25)})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = kube.core.list_namespaced_secret(NS, limit=10, _continue=token)
        pages += 1
        seen += [s.metadata.name for s in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 25 - len(seen)
    assert pages == 3
    assert seen == sorted(f"s{i:03d}" for i in range(25))


def test_pagination_with_a_selector_returns_only_matches(kube: Kube) -> None:
    _secrets(kube, {f"s{i:02d}": {"even": str(i % 2 == 0).lower()} for i in range(12)})
    seen: list[str] = []
    token = None
    while True:
        page = kube.core.list_namespaced_secret(
            NS, limit=4, _continue=token, label_selector="even=true"
        )
        seen += [s.metadata.name for s in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"s{i:02d}" for i in range(0, 12, 2)]


def test_an_expired_continue_token_is_410_gone(sim: SimCluster, kube: Kube) -> None:
    _secrets(kube, {f"s{i}": {} for i in range(5)})
    page = kube.core.list_namespaced_secret(NS, limit=2)
    sim.compact()
    status = expect_error(
        410, kube.core.list_namespaced_secret, NS, limit=2, _continue=page.metadata._continue
    )
    assert status["reason"] == "Expired"


def test_a_garbled_continue_token_is_400(kube: Kube) -> None:
    expect_error(400, kube.core.list_namespaced_secret, NS, limit=2, _continue="not-a-token")


def test_custom_object_lists_have_the_list_kind_and_metadata(kube: Kube) -> None:
    listed = kube.custom.list_cluster_custom_object(
        "catalog.kubedb.com", "v1alpha1", "redisversions", limit=3
    )
    assert listed["kind"] == "RedisVersionList"
    assert listed["apiVersion"] == "catalog.kubedb.com/v1alpha1"
    assert len(listed["items"]) == 3
    assert listed["metadata"]["continue"]
    assert int(listed["metadata"]["resourceVersion"]) > 0


def test_later_pages_are_a_snapshot_of_the_first_pages_resource_version(kube: Kube) -> None:
    _secrets(kube, {f"s{i:02d}": {"batch": "x"} for i in range(6)})
    first = kube.core.list_namespaced_secret(NS, limit=2)
    token = first.metadata._continue
    # Between pages: one object changes, one is deleted, one is created after the snapshot.
    kube.core.patch_namespaced_secret("s03", NS, {"metadata": {"labels": {"batch": "changed"}}})
    kube.core.delete_namespaced_secret("s04", NS)
    kube.core.create_namespaced_secret(NS, {"metadata": {"name": "s02a", "labels": {"batch": "x"}}})
    rest = []
    while token:
        page = kube.core.list_namespaced_secret(NS, limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        rest += page.items
        token = page.metadata._continue
    names = [s.metadata.name for s in first.items + rest]
    assert names == ["s00", "s01", "s02", "s03", "s04", "s05"]  # s04 still, no s02a
    s03 = next(s for s in rest if s.metadata.name == "s03")
    assert s03.metadata.labels == {"batch": "x"}  # as it was at the snapshot
    # A fresh list sees the present.
    now = [s.metadata.name for s in kube.core.list_namespaced_secret(NS).items]
    assert now == ["s00", "s01", "s02", "s02a", "s03", "s05"]
