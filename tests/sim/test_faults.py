"""Faults switched at runtime, counters, out-of-band removal and reset, via the admin endpoint."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.fixtures_sim import SimAdminError, SimCluster
from tests.sim.kube import DB_GROUP, DB_VERSION, NS, Kube, expect_error, postgres, status_of


def test_injected_errors_hit_only_the_chosen_verb_and_resource_for_count_times(
    sim: SimCluster, kube: Kube
) -> None:
    sim.inject_errors([503], verbs=["create"], resources=["postgreses"], count=2)
    for _ in range(2):
        status = expect_error(503, kube.create_db, postgres("orders"))
        assert status["reason"] == "ServiceUnavailable"
    kube.core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name="s")))
    assert kube.create_db(postgres("orders"))["metadata"]["name"] == "orders"
    assert sim.stats()["injected_errors"] == {"503": 2}


def test_a_429_carries_retry_after(sim: SimCluster, kube: Kube) -> None:
    # On a create: urllib3 (under the official client) retries reads that get a 429 with
    # Retry-After on its own, sleeping as told; a POST it hands straight back.
    sim.inject_errors([429], verbs=["create"], retry_after=7)
    with pytest.raises(ApiException) as caught:
        kube.core.create_namespaced_secret(
            NS, client.V1Secret(metadata=client.V1ObjectMeta(name="s"))
        )
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "7"
    body = status_of(caught.value)
    assert body["reason"] == "TooManyRequests"
    assert body["details"]["retryAfterSeconds"] == 7


def test_a_500_is_an_internal_error_status(sim: SimCluster, kube: Kube) -> None:
    sim.inject_errors([500], verbs=["get"])
    status = expect_error(500, kube.core.read_namespace, "default")
    assert status["reason"] == "InternalError"


def test_an_error_rate_fails_about_that_share_of_requests(sim: SimCluster, kube: Kube) -> None:
    sim.inject_errors([500], verbs=["get"], rate=0.5)
    failures = 0
    for _ in range(60):
        try:
            kube.core.read_namespace("default")
        except ApiException:
            failures += 1
    assert 10 <= failures <= 50


def test_status_writes_can_be_failed_separately(sim: SimCluster, kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    sim.inject_errors([500], resources=["postgreses/status"])
    expect_error(
        500,
        kube.custom.patch_namespaced_custom_object_status,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"status": {"observedGeneration": 9}},
    )
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"metadata": {"labels": {"a": "b"}}}
    )


def test_added_latency_slows_the_chosen_verbs(sim: SimCluster, kube: Kube) -> None:
    sim.set_latency(0.3, verbs=["get"])
    started = time.monotonic()
    kube.core.read_namespace("default")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    kube.core.list_namespace()
    assert time.monotonic() - started < 0.3


def test_latency_after_makes_the_change_at_once_and_answers_late(
    sim: SimCluster, kube: Kube
) -> None:
    sim.set_latency(1.0, verbs=["create"], after=True)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "late-answer"}}
    created = threading.Thread(target=kube.core.create_namespace, args=(body,))
    started = time.monotonic()
    created.start()
    # the namespace exists long before the answer to its create arrives
    while not _exists(kube, "late-answer"):
        assert time.monotonic() - started < 0.8, "the create was not handled at once"
        time.sleep(0.02)
    assert created.is_alive()
    assert sim.stats()["held_answers"] == 1
    created.join()
    assert time.monotonic() - started >= 1.0
    assert sim.admin("GET", "/sim/faults")["latency"]["after"] is True
    assert sim.stats()["held_answers"] == 0


def _exists(kube: Kube, namespace: str) -> bool:
    try:
        kube.core.read_namespace(namespace)
    except ApiException:
        return False
    return True


def test_watches_can_be_dropped_periodically(sim: SimCluster, kube: Kube) -> None:
    sim.drop_watches_every(0.2)
    started = time.monotonic()
    list(watch.Watch().stream(kube.core.list_namespaced_secret, NS, timeout_seconds=5))
    assert time.monotonic() - started < 2
    assert sim.stats()["watch_drops"] >= 1


def test_the_fault_document_can_be_read_and_cleared(sim: SimCluster) -> None:
    sim.inject_errors([500], verbs=["get"])
    sim.hang_next_ops(database="demo/orders")
    faults = sim.admin("GET", "/sim/faults")
    assert faults["errors"][0]["codes"] == [500]
    assert faults["ops"] == [
        {"mode": "hang", "reason": "injected failure", "database": "demo/orders", "count": 1}
    ]
    sim.clear_faults()
    assert sim.admin("GET", "/sim/faults")["errors"] == []


def test_a_seed_replays_the_same_injected_errors(sim: SimCluster, kube: Kube) -> None:
    def outcomes() -> list[int]:
        seen = []
        for _ in range(40):
            try:
                kube.core.read_namespace("default")
                seen.append(200)
            except ApiException as error:
                seen.append(error.status)
        return seen

    rule = {"codes": [500, 503], "rate": 0.5, "verbs": ["get"]}
    sim.set_faults(seed=42, errors=[rule])
    first = outcomes()
    sim.set_faults(seed=42, errors=[rule])
    assert outcomes() == first
    assert {200, 500, 503} <= set(first)  # the draws are mixed, not one answer
    sim.set_faults(seed=43, errors=[rule])
    assert outcomes() != first
    assert sim.admin("GET", "/sim/faults")["seed"] == 43


@pytest.mark.parametrize(
    "document",
    [
        {"errors": [{"codes": [200]}]},
        {"errors": [{"codes": [500], "rate": "often"}]},
        {"errors": [{"codes": [500], "rate": 1.5}]},
        {"errors": [{"codes": [500], "count": -1}]},
        {"errors": [{"codes": [500], "retry_after": 0.5}]},
        {"latency": {"seconds": -1}},
        {"latency": "slow"},
        {"watch_drop": {"interval": "often"}},
        {"watch_drop": [3]},
        {"ops": [{"mode": "hang", "count": 0}]},
        {"seed": "abc"},
        {"seed": True},
        {"seed": 5, "latency": 0.1, "errors": [{"codes": [200]}]},
    ],
)
def test_a_malformed_fault_is_a_400_status_and_changes_nothing(
    sim: SimCluster, document: dict[str, Any]
) -> None:
    before = sim.admin("GET", "/sim/faults")
    with pytest.raises(SimAdminError) as caught:
        sim.set_faults(**document)
    assert caught.value.code == 400
    assert caught.value.body["kind"] == "Status"
    assert sim.admin("GET", "/sim/faults") == before


def test_requests_are_counted_per_verb_and_resource(sim: SimCluster, kube: Kube) -> None:
    sim.reset_stats()
    kube.create_db(postgres("orders"))
    kube.get_db("orders")
    kube.get_db("orders")
    kube.custom.patch_namespaced_custom_object_status(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"status": {"phase": "Ready"}}
    )
    assert sim.requests("create", "postgreses") == 1
    assert sim.requests("get", "postgreses") == 2
    assert sim.requests("patch", "postgreses/status") == 1
    assert sim.requests("delete", "postgreses") == 0


def test_vanish_removes_an_object_at_once_despite_finalizers(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders", policy="DoNotTerminate"))
    sim.vanish("postgreses", NS, "orders")
    assert kube.db_gone("orders")
    # Without the operator's finalizer step, the garbage collector takes what it owned.
    expect_error(404, kube.core.read_namespaced_secret, "orders-auth", NS)
    expect_error(404, kube.core.read_namespaced_service, "orders", NS)


def test_phase_faults_only_apply_to_databases(sim: SimCluster, kube: Kube) -> None:
    with pytest.raises(SimAdminError) as caught:
        sim.set_phase("secrets", NS, "x", "Critical")
    assert caught.value.code == 400
    with pytest.raises(SimAdminError) as missing:
        sim.set_phase("postgreses", NS, "ghost", "Critical")
    assert missing.value.code == 404


def test_reset_clears_objects_faults_and_counters_but_keeps_the_catalog(
    sim: SimCluster, kube: Kube
) -> None:
    kube.create_db(postgres("orders"))
    sim.inject_errors([500], verbs=["delete"])
    sim.admin("POST", "/sim/reset")
    assert {n.metadata.name for n in kube.core.list_namespace().items} == {
        "default",
        "kube-system",
    }
    assert sim.stats()["objects"]["postgresversions.catalog.kubedb.com"] > 0
    assert "postgreses.kubedb.com" not in sim.stats()["objects"]
    assert sim.admin("GET", "/sim/faults")["errors"] == []
    assert sim.stats()["total_requests"] == 1


def test_a_watch_can_be_refused_with_an_injected_error(sim: SimCluster, kube: Kube) -> None:
    sim.inject_errors([500], verbs=["watch"], resources=["secrets"])
    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(kube.core.list_namespaced_secret, NS, timeout_seconds=1))
    assert caught.value.status == 500
    assert kube.core.list_namespaced_secret(NS).items == []
