"""Deletion: finalizers and deletionTimestamp, owner references, namespaces."""

from __future__ import annotations

from typing import Any

from kubernetes import client, watch

from tests.fixtures_sim import SimCluster
from tests.sim.kube import NS, Kube, expect_error


def _secret(name: str, **meta: Any) -> client.V1Secret:
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name, **meta))


def test_an_object_with_finalizers_is_marked_and_kept_until_they_are_removed(
    kube: Kube,
) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("held", finalizers=["example.com/hold"]))
    kube.core.delete_namespaced_secret("held", NS)
    marked = kube.core.read_namespaced_secret("held", NS)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.finalizers == ["example.com/hold"]
    kube.core.patch_namespaced_secret("held", NS, {"metadata": {"finalizers": None}})
    expect_error(404, kube.core.read_namespaced_secret, "held", NS)
    watcher = watch.Watch()
    stream = watcher.stream(kube.core.list_namespaced_secret, NS, resource_version=start)
    events = []
    for event in stream:
        events.append(event["type"])
        if event["type"] == "DELETED":
            break
    stream.close()
    assert events == ["ADDED", "MODIFIED", "DELETED"]


def test_no_finalizer_can_be_added_to_an_object_being_deleted(kube: Kube) -> None:
    kube.core.create_namespaced_secret(NS, _secret("held", finalizers=["a/b"]))
    kube.core.delete_namespaced_secret("held", NS)
    status = expect_error(
        422,
        kube.core.patch_namespaced_secret,
        "held",
        NS,
        {"metadata": {"finalizers": ["a/b", "c/d"]}},
    )
    assert status["details"]["causes"][0]["field"] == "metadata.finalizers"


def test_deleting_a_core_object_answers_a_success_status(kube: Kube) -> None:
    kube.core.create_namespaced_secret(NS, _secret("plain"))
    answer = kube.core.delete_namespaced_secret("plain", NS)
    assert answer["kind"] == "Status"
    assert answer["status"] == "Success"
    assert answer["details"]["name"] == "plain"


def test_delete_preconditions_on_uid_are_enforced(kube: Kube) -> None:
    kube.core.create_namespaced_secret(NS, _secret("plain"))
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other"))
    status = expect_error(409, kube.core.delete_namespaced_secret, "plain", NS, body=options)
    assert "Precondition failed" in status["message"]


def test_dependents_are_garbage_collected_unless_orphaned(kube: Kube) -> None:
    owner = kube.core.create_namespaced_secret(NS, _secret("owner"))
    reference = client.V1OwnerReference(
        api_version="v1", kind="Secret", name="owner", uid=owner.metadata.uid
    )
    kube.core.create_namespaced_secret(NS, _secret("child", owner_references=[reference]))
    kube.core.delete_namespaced_secret("owner", NS)
    expect_error(404, kube.core.read_namespaced_secret, "child", NS)

    owner = kube.core.create_namespaced_secret(NS, _secret("owner2"))
    reference = client.V1OwnerReference(
        api_version="v1", kind="Secret", name="owner2", uid=owner.metadata.uid
    )
    kube.core.create_namespaced_secret(NS, _secret("orphan", owner_references=[reference]))
    kube.core.delete_namespaced_secret("owner2", NS, propagation_policy="Orphan")
    orphan = kube.core.read_namespaced_secret("orphan", NS)
    assert not orphan.metadata.owner_references


def test_deleting_a_namespace_deletes_its_objects_and_then_itself(
    sim: SimCluster, kube: Kube
) -> None:
    kube.namespace("doomed")
    kube.core.create_namespaced_secret("doomed", _secret("a"))
    kube.core.create_namespaced_secret("doomed", _secret("held", finalizers=["x/y"]))
    kube.core.delete_namespace("doomed")
    namespace = kube.core.read_namespace("doomed")
    assert namespace.status.phase == "Terminating"
    expect_error(404, kube.core.read_namespaced_secret, "a", "doomed")
    status = expect_error(403, kube.core.create_namespaced_secret, "doomed", _secret("late"))
    assert "being terminated" in status["message"]
    kube.core.patch_namespaced_secret("held", "doomed", {"metadata": {"finalizers": None}})
    expect_error(404, kube.core.read_namespace, "doomed")


def test_the_default_namespace_cannot_be_deleted(kube: Kube) -> None:
    status = expect_error(403, kube.core.delete_namespace, "default")
    assert status["reason"] == "Forbidden"


def test_delete_collection_removes_what_the_selector_matches(kube: Kube) -> None:
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        kube.core.create_namespaced_secret(NS, _secret(name, labels={"team": team}))
    kube.core.delete_collection_namespaced_secret(NS, label_selector="team=x")
    assert [s.metadata.name for s in kube.core.list_namespaced_secret(NS).items] == ["c"]
