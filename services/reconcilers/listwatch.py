"""List-then-watch threads that feed status-sync a queue of cluster changes.

Why: a Kubernetes watch is a blocking HTTP stream, so each watched resource gets its own
named thread that lists (paginated, by label), then watches from the list's
resourceVersion, and puts what it sees on one queue that the reconcile loop drains. The
loop owns all state; these threads only produce.

What they put on the queue are readings (`cr_readings.compact`), never whole objects: a list
is read page by page, each page's objects compacted before the next page is fetched, so a
thread holds at most one page of whole objects (a whole list of CRs is many times the size
of its readings: bench/README.md). A list is put on the queue only once complete: the
mirror replaces everything known of the resource with it.

Recovery, per thread:
- a watch that ends (server timeout, dropped connection) resumes from the last
  resourceVersion seen, so no update is missed;
- 410 Gone (the version left the server's history, or a list's continue token expired
  between two pages) re-lists from the first page at once;
- any other failure backs off exponentially, then resumes;
- every `resync_seconds` a full re-list is the safety net (the mirror diffs it, so objects
  deleted while nobody watched are noticed).

Threads are stopped by an Event and join within one watch timeout (a blocked HTTP read
cannot be interrupted, so watch timeouts are short). They never write to the cluster.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from services.clients.kube import KubeClient, KubeError
from services.domain.resources import Resource
from services.reconcilers import cr_readings
from services.reconcilers.backoff import Backoff
from services.reconcilers.cr_readings import Changed, Item, Listed, Reading

log = logging.getLogger(__name__)

MANAGED_SELECTOR = "app.kubernetes.io/managed-by=dbaas"
PAGE_LIMIT = 500
"""Objects per list request: the most whole objects a lister holds at once."""

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Listing(Generic[T]):
    """A complete list, read page by page."""

    readings: list[T]
    resource_version: str
    """The list's version (its first page's): a watch from it misses nothing."""
    requests: int


def list_readings(
    cluster: KubeClient,
    resource: Resource,
    read: Callable[[dict[str, Any]], T | None],
    *,
    label_selector: str = MANAGED_SELECTOR,
    limit: int = PAGE_LIMIT,
    stop: threading.Event | None = None,
) -> Listing[T] | None:
    """Every object of `resource` across namespaces, each as `read` reads it (None drops it).

    Page by page: a page's objects are read before the next page is fetched, so at most one
    page of whole objects is alive. A 410 between pages (the continue token expired) is
    raised as it is: the caller lists again from the first page, since a list stitched from
    two versions could miss objects. None when `stop` is set between two pages.
    """
    readings: list[T] = []
    token: str | None = None
    version = ""
    requests = 0
    while stop is None or not stop.is_set():
        page = cluster.list_page(
            resource, label_selector=label_selector, limit=limit, continue_token=token
        )
        requests += 1
        for obj in page.get("items") or ():
            obj.setdefault("kind", resource.kind)  # a list's items carry no kind (<Kind>List)
            reading = read(obj)
            if reading is not None:
                readings.append(reading)
        meta = page.get("metadata") or {}
        version = version or str(meta.get("resourceVersion") or "")
        token = meta.get("continue")
        del page, meta  # before the next page arrives
        if not token:
            return Listing(readings, version, requests)
    return None


@dataclasses.dataclass
class WatchStats:
    """Counters a thread keeps (read by tests and metrics; ints are safe to share)."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    gone: int = 0
    errors: int = 0
    failing_since: float | None = None
    """Since when every attempt failed (clock of the watcher); None after a success."""


class ResourceWatcher:
    """One thread: list then watch `resource` across all namespaces, forever, until stopped."""

    def __init__(
        self,
        cluster: KubeClient,
        resource: Resource,
        feed: queue.Queue[Item],
        *,
        program: str,
        stop: threading.Event,
        resync_seconds: float,
        watch_timeout: int,
        label_selector: str = MANAGED_SELECTOR,
        page_limit: int = PAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        from_now: bool = False,
    ) -> None:
        self.cluster = cluster
        self.resource = resource
        self.feed = feed
        self.from_now = from_now
        """Watch only what changes from now on: the "list" is one page of one object, for
        the version to watch from, and puts nothing on the feed (drift, whose periodic pass
        is the full list: a second full list per kind would double its cost)."""
        self.stop = stop
        self.resync_seconds = resync_seconds
        self.watch_timeout = max(1, watch_timeout)
        self.label_selector = label_selector
        self.page_limit = page_limit
        self.clock = clock
        self.stats = WatchStats()
        self.backoff = Backoff(initial=0.5, maximum=30.0)
        self.thread = threading.Thread(
            target=self._run, name=f"{program}-watch-{resource.plural}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        version: str | None = None
        relist_at = 0.0
        while not self.stop.is_set():
            try:
                if version is None or self.clock() >= relist_at:
                    version = self._list()
                    if version is None:  # stopped between two pages
                        break
                    relist_at = self.clock() + self.resync_seconds
                version = self._watch(version, relist_at)
                self.backoff.reset()
                self.stats.failing_since = None
            except KubeError as error:
                if error.gone:
                    self.stats.gone += 1
                    log.info("watch %s: 410 Gone, re-listing", self.resource.plural)
                    version = None
                    continue
                self._pause(error)
            except Exception as error:  # a dropped connection surfaces as urllib3's own errors
                self._pause(error)

    def _list(self) -> str | None:
        """List every object, put the complete list on the feed; its version (None: stopped)."""
        if self.from_now:
            page = self.cluster.list_page(
                self.resource, label_selector=self.label_selector, limit=1
            )
            self.stats.lists += 1
            return str((page.get("metadata") or {}).get("resourceVersion") or "")
        listing: Listing[Reading] | None = list_readings(
            self.cluster,
            self.resource,
            cr_readings.compact,
            label_selector=self.label_selector,
            limit=self.page_limit,
            stop=self.stop,
        )
        if listing is None:
            return None
        self.stats.lists += 1
        self.feed.put(Listed(self.resource.plural, tuple(listing.readings)))
        log.debug(
            "watch %s: listed %d at %s in %d pages",
            self.resource.plural,
            len(listing.readings),
            listing.resource_version,
            listing.requests,
        )
        return listing.resource_version

    def _watch(self, version: str, relist_at: float) -> str:
        """Stream events until the watch ends, a re-list is due or we stop; the last version."""
        timeout = int(max(1.0, min(self.watch_timeout, relist_at - self.clock())))
        self.stats.watches += 1
        stream = self.cluster.watch(
            self.resource,
            resource_version=version,
            label_selector=self.label_selector,
            timeout_seconds=timeout,
        )
        try:
            for event in stream:
                kind = event.get("type")
                obj = event.get("raw_object") or event.get("object")
                if not isinstance(obj, dict):
                    continue
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    obj.setdefault("kind", self.resource.kind)
                    self.stats.events += 1
                    reading = cr_readings.compact(obj)
                    self.feed.put(Changed(self.resource.plural, str(kind), reading))
                if self.stop.is_set() or self.clock() >= relist_at:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:  # ends the HTTP stream when we broke out early
                close()
        return version

    def _pause(self, error: Exception) -> None:
        self.stats.errors += 1
        if self.stats.failing_since is None:
            self.stats.failing_since = self.clock()
        delay = self.backoff.next_delay()
        log.warning(
            "watch %s: %s: %s; retrying in %.1fs",
            self.resource.plural,
            type(error).__name__,
            error,
            delay,
        )
        self.stop.wait(delay)


class Watchers:
    """The set of watcher threads of one program, started and stopped together."""

    def __init__(
        self,
        cluster: KubeClient,
        resources: Sequence[Resource],
        *,
        program: str,
        resync_seconds: float,
        watch_timeout: int,
        selectors: Mapping[str, str] | None = None,
        from_now: bool = False,
    ) -> None:
        """`selectors`: a label selector per plural instead of dbaas's own label (objects
        another operator makes, e.g. KubeStash's Snapshots); `from_now`: changes only, no
        lists on the feed (`ResourceWatcher.from_now`)."""
        self.feed: queue.Queue[Item] = queue.Queue()
        self.stop_event = threading.Event()
        self.watchers = [
            ResourceWatcher(
                cluster,
                resource,
                self.feed,
                program=program,
                stop=self.stop_event,
                resync_seconds=resync_seconds,
                watch_timeout=watch_timeout,
                label_selector=(selectors or {}).get(resource.plural, MANAGED_SELECTOR),
                from_now=from_now,
            )
            for resource in resources
        ]
        self.watch_timeout = watch_timeout

    def start(self) -> None:
        for watcher in self.watchers:
            watcher.start()

    def stop(self) -> bool:
        """Stop every thread; True when all joined within one watch timeout (+ 2 s).

        With the default 8 s watch timeout a shutdown fits supervisord's stopwaitsecs (15).
        """
        self.stop_event.set()
        deadline = time.monotonic() + self.watch_timeout + 2.0
        joined = True
        for watcher in self.watchers:
            joined = watcher.join(max(0.0, deadline - time.monotonic())) and joined
        if not joined:
            log.warning("watchers: some threads still blocked in a watch; leaving them")
        return joined

    def stats(self) -> dict[str, WatchStats]:
        return {w.resource.plural: w.stats for w in self.watchers}

    def failing_since(self) -> float | None:
        """Since when every watcher has been failing (the cluster out of reach); None while
        any of them works: one kind that cannot be listed (its CRD missing) is not an
        outage of the cluster."""
        since = [w.stats.failing_since for w in self.watchers]
        if not since or any(moment is None for moment in since):
            return None
        return max(moment for moment in since if moment is not None)
