"""status-sync's and drift's lists against the simulated cluster: page by page into readings,
the same readings the whole list gave, a 410 between pages raised, deletions noticed by the
next full list, events as readings, and a stop request that ends status-sync's first wait."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.clients import kube
from services.clients.kube import KubeError
from services.domain.resources import database_resources
from services.reconcilers import cr_readings, listwatch
from services.reconcilers.cr_readings import Changed, Listed, ObservedDatabase
from services.reconcilers.listwatch import ResourceWatcher
from services.reconcilers.status_sync.cluster_view import ClusterView
from services.reconcilers.status_sync.loop import StatusSync
from tests.fixtures_sim import SimCluster
from tests.integration.reconciler_world import NAMESPACE, World
from tests.integration.test_reconcilers_status_sync import FAST
from tests.reconcilers_support import cr_for, record, snapshot

(POSTGRESES,) = [r for r in database_resources() if r.plural == "postgreses"]


@pytest.fixture
def cluster(sim: SimCluster) -> Iterator[kube.KubeClient]:
    cluster = kube.KubeClient(sim.api_client())
    cluster.ensure_namespace(NAMESPACE)
    yield cluster


def create_crs(cluster: kube.KubeClient, count: int) -> list[uuid.UUID]:
    ids = []
    for i in range(count):
        cr = cr_for(snapshot(record(name=f"db{i}")))
        cr.pop("status")
        for field in ("resourceVersion", "uid", "generation"):
            cr["metadata"].pop(field)
        cluster.create(POSTGRESES, NAMESPACE, cr)
        ids.append(uuid.UUID(cr["metadata"]["labels"]["dbaas.io/database-id"]))
    return ids


def all_ready(cluster: kube.KubeClient, count: int) -> bool:
    items, _ = cluster.list_all(POSTGRESES, label_selector=listwatch.MANAGED_SELECTOR)
    phases = [(item.get("status") or {}).get("phase") for item in items]
    return len(phases) == count and all(phase == "Ready" for phase in phases)


def watcher_for(cluster: kube.KubeClient, feed: queue.Queue[listwatch.Item]) -> ResourceWatcher:
    return ResourceWatcher(
        cluster,
        POSTGRESES,
        feed,
        program="test",
        stop=threading.Event(),
        resync_seconds=300,
        watch_timeout=1,
        page_limit=2,
    )


def first_list(feed: queue.Queue[listwatch.Item]) -> Listed:
    item = feed.get(timeout=10)
    assert isinstance(item, Listed)
    return item


def test_a_paged_list_reads_what_the_whole_list_read(
    sim: SimCluster, cluster: kube.KubeClient
) -> None:
    create_crs(cluster, 7)
    sim.wait_for(lambda: all_ready(cluster, 7))  # no change between the two lists below
    whole, version = cluster.list_all(POSTGRESES, label_selector=listwatch.MANAGED_SELECTOR)
    for obj in whole:
        obj.setdefault("kind", POSTGRESES.kind)
    listing = listwatch.list_readings(cluster, POSTGRESES, cr_readings.compact, limit=3)
    assert listing is not None
    assert listing.requests == 3
    assert listing.resource_version == version
    assert listing.readings == [cr_readings.compact(obj) for obj in whole]
    assert all(isinstance(reading, ObservedDatabase) for reading in listing.readings)
    assert all(reading.phase == "Ready" for reading in listing.readings)  # type: ignore[union-attr]


def test_a_continue_token_that_expires_mid_list_is_raised_as_410(
    sim: SimCluster, cluster: kube.KubeClient
) -> None:
    create_crs(cluster, 5)
    compacted: list[object] = []

    def read_then_compact(obj: dict[str, Any]) -> cr_readings.Reading:
        if not compacted:
            compacted.append(sim.compact())  # the server's history moves past the list
        return cr_readings.compact(obj)

    with pytest.raises(KubeError) as raised:
        listwatch.list_readings(cluster, POSTGRESES, read_then_compact, limit=2)
    assert raised.value.gone


def test_objects_deleted_while_nobody_watched_vanish_at_the_next_full_list(
    sim: SimCluster, cluster: kube.KubeClient
) -> None:
    kept_a, gone, kept_b = create_crs(cluster, 3)
    mirror = ClusterView([POSTGRESES.plural], [])
    feed: queue.Queue[listwatch.Item] = queue.Queue()
    before = watcher_for(cluster, feed)
    before.start()
    try:
        assert mirror.apply(first_list(feed)) == {kept_a, gone, kept_b}
    finally:
        before.stop.set()
        assert before.join(10)
    sim.vanish("postgreses", NAMESPACE, "db1")
    feed = queue.Queue()
    after = watcher_for(cluster, feed)
    after.start()
    try:
        listed = first_list(feed)
    finally:
        after.stop.set()
        assert after.join(10)
    assert len(listed.items) == 2 and after.stats.lists == 1
    touched = mirror.apply(listed)
    assert gone in touched
    assert mirror.database(gone) is None
    assert mirror.database_ids() == {kept_a, kept_b}


def test_watch_events_reach_the_feed_as_readings(sim: SimCluster, cluster: kube.KubeClient) -> None:
    (database_id,) = create_crs(cluster, 1)
    feed: queue.Queue[listwatch.Item] = queue.Queue()
    watcher = watcher_for(cluster, feed)
    watcher.start()
    try:
        first_list(feed)
        sim.edit("postgreses", NAMESPACE, "db0", {"spec": {"replicas": 5}})

        def replicas_5() -> Changed | None:
            try:
                item = feed.get(timeout=0.2)
            except queue.Empty:
                return None
            assert isinstance(item, Changed) and isinstance(item.obj, ObservedDatabase)
            return item if item.obj.spec.get("replicas") == 5 else None

        changed = sim.wait_for(replicas_5)
    finally:
        watcher.stop.set()
        assert watcher.join(10)
    assert isinstance(changed.obj, ObservedDatabase)
    assert changed.obj.database_id == database_id


def test_a_stop_request_ends_the_wait_for_the_first_lists(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    """A list that never completes (its kind failing) and a clock that never reaches the
    deadline: only the stop request can end the wait."""
    sim.inject_errors([503], verbs=["list"], resources=["postgreses"])
    world = World(database_url, redis_url, sim, FAST)
    stop = threading.Event()
    sync = StatusSync(
        pool=world.pool,
        cluster=world.cluster,
        queue=world.queue,
        config=FAST,
        clock=lambda: 0.0,
        stop=stop,
    )

    def stop_once_a_list_failed() -> None:
        sim.wait_for(
            lambda: sync.watchers is not None and sync.watchers.stats()["postgreses"].errors > 0
        )
        stop.set()

    stopper = threading.Thread(target=stop_once_a_list_failed, name="test-stopper")
    stopper.start()
    try:
        sync.on_promoted()
        assert not sync.mirror.synced
    finally:
        stopper.join(10)
        sync.on_demoted()
        world.close()
