"""The watcher's lists, page by page: readings made as each page arrives, at most one page of
whole objects alive, a list restarted from its first page after a 410, stop between pages.

The cluster is faked at our own boundary (`services.clients.kube.KubeClient`'s `list_page` and
`watch`); the same paths run against the simulated cluster in the integration tests."""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from services.clients.kube import KubeError
from services.domain.resources import Resource
from services.reconcilers import cr_readings, listwatch
from services.reconcilers.cr_readings import Listed, ObservedDatabase
from services.reconcilers.listwatch import ResourceWatcher
from tests.reconcilers_support import cr_for, snapshot

POSTGRESES = Resource("kubedb.com", "v1", "postgreses", "Postgres")


class Obj(dict[str, Any]):
    """A listed object that can be watched for being freed (a plain dict cannot)."""


class PagedCluster:
    """Serves `objects` in pages of `limit`, a fresh copy per request as the HTTP client
    would; the first `expire` continued requests answer 410 (the token expired)."""

    def __init__(self, objects: list[dict[str, Any]], *, expire: int = 0) -> None:
        self.objects = objects
        self.expire = expire
        self.tokens: list[str | None] = []
        self.stop = threading.Event()

    def list_page(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        limit: int = 500,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        self.tokens.append(continue_token)
        if continue_token and self.expire:
            self.expire -= 1
            raise KubeError(410, "Expired", "the continue token is too old", [])
        start = int(continue_token or 0)
        items = [_copy(obj) for obj in self.objects[start : start + limit]]
        meta: dict[str, Any] = {"resourceVersion": "42"}
        if start + limit < len(self.objects):
            meta["continue"] = str(start + limit)
        return {"kind": "PostgresList", "items": items, "metadata": meta}

    def watch(self, resource: Resource, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.stop.wait(0.05)  # an empty watch that ends (the watcher resumes it)
        return iter(())


def _copy(obj: dict[str, Any]) -> Obj:
    copied = Obj({k: _copy(v) if isinstance(v, dict) else v for k, v in obj.items()})
    copied.pop("kind", None)  # a list's items carry no kind (the list's is PostgresList)
    return copied


def crs(count: int) -> list[dict[str, Any]]:
    return [cr_for(snapshot()) for _ in range(count)]


def test_a_list_reads_every_page_and_returns_the_readings_of_the_whole_list() -> None:
    objects = crs(5)
    cluster = PagedCluster(objects)
    listing = listwatch.list_readings(cluster, POSTGRESES, cr_readings.compact, limit=2)
    assert listing is not None
    assert cluster.tokens == [None, "2", "4"]
    assert (listing.resource_version, listing.requests) == ("42", 3)
    assert listing.readings == [cr_readings.compact(obj) for obj in objects]
    assert all(isinstance(reading, ObservedDatabase) for reading in listing.readings)


def test_a_list_never_holds_more_than_one_page_of_whole_objects() -> None:
    alive: list[weakref.ref[Obj]] = []
    most = 0

    def read(obj: dict[str, Any]) -> cr_readings.Reading:
        nonlocal most
        assert isinstance(obj, Obj)
        alive.append(weakref.ref(obj))
        most = max(most, sum(ref() is not None for ref in alive))
        return cr_readings.compact(obj)

    listing = listwatch.list_readings(PagedCluster(crs(9)), POSTGRESES, read, limit=3)
    assert listing is not None and len(listing.readings) == 9
    assert most == 3
    assert all(ref() is None for ref in alive)


def test_an_expired_continue_token_is_raised_not_stitched_into_a_partial_list() -> None:
    cluster = PagedCluster(crs(5), expire=1)
    with pytest.raises(KubeError) as raised:
        listwatch.list_readings(cluster, POSTGRESES, cr_readings.compact, limit=2)
    assert raised.value.gone
    assert cluster.tokens == [None, "2"]


def test_a_list_stops_between_pages_when_asked_to() -> None:
    stop = threading.Event()

    def read(obj: dict[str, Any]) -> cr_readings.Reading:
        stop.set()
        return cr_readings.compact(obj)

    cluster = PagedCluster(crs(5))
    listing = listwatch.list_readings(cluster, POSTGRESES, read, limit=2, stop=stop)
    assert listing is None
    assert cluster.tokens == [None]


def test_a_watcher_relists_from_the_first_page_after_a_410_mid_list() -> None:
    objects = crs(5)
    cluster = PagedCluster(objects, expire=1)
    feed: queue.Queue[listwatch.Item] = queue.Queue()
    stop = threading.Event()
    watcher = ResourceWatcher(
        cluster,
        POSTGRESES,
        feed,
        program="test",
        stop=stop,
        resync_seconds=300,
        watch_timeout=1,
        page_limit=2,
    )
    watcher.start()
    try:
        listed = feed.get(timeout=10)
    finally:
        stop.set()
        cluster.stop.set()
        assert watcher.join(5)
    assert isinstance(listed, Listed)
    assert listed.items == tuple(cr_readings.compact(obj) for obj in objects)
    assert cluster.tokens[:5] == [None, "2", None, "2", "4"]
    assert (watcher.stats.gone, watcher.stats.lists) == (1, 1)
    assert feed.empty()  # the broken list was never put on the feed, not even in part
