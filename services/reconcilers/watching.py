"""List-then-watch threads that feed status-sync a queue of cluster changes.

Why: a Kubernetes watch is a blocking HTTP stream, so each watched resource gets its own
named thread that lists (paginated, by label), then watches from the list's
resourceVersion, and puts what it sees on one queue that the reconcile loop drains. The
loop owns all state; these threads only produce.

Recovery, per thread:
- a watch that ends (server timeout, dropped connection) resumes from the last
  resourceVersion seen, so no update is missed;
- 410 Gone (the version left the server's history) re-lists at once;
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
from collections.abc import Callable, Sequence
from typing import Any

from services.clients.kube import Cluster, KubeError, Resource
from services.reconcilers.backoff import Backoff

log = logging.getLogger(__name__)

MANAGED_SELECTOR = "app.kubernetes.io/managed-by=dbaas"


@dataclasses.dataclass(frozen=True)
class Listed:
    """A complete list of one resource: it replaces everything known of it."""

    plural: str
    items: tuple[dict[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class Changed:
    """One watch event (ADDED, MODIFIED or DELETED)."""

    plural: str
    type: str
    obj: dict[str, Any]


Item = Listed | Changed


@dataclasses.dataclass
class WatchStats:
    """Counters a thread keeps (read by tests and metrics; ints are safe to share)."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    gone: int = 0
    errors: int = 0


class ResourceWatcher:
    """One thread: list then watch `resource` across all namespaces, forever, until stopped."""

    def __init__(
        self,
        cluster: Cluster,
        resource: Resource,
        feed: queue.Queue[Item],
        *,
        program: str,
        stop: threading.Event,
        resync_seconds: float,
        watch_timeout: int,
        label_selector: str = MANAGED_SELECTOR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.resource = resource
        self.feed = feed
        self.stop = stop
        self.resync_seconds = resync_seconds
        self.watch_timeout = max(1, watch_timeout)
        self.label_selector = label_selector
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
                    relist_at = self.clock() + self.resync_seconds
                version = self._watch(version, relist_at)
                self.backoff.reset()
            except KubeError as error:
                if error.gone:
                    self.stats.gone += 1
                    log.info("watch %s: 410 Gone, re-listing", self.resource.plural)
                    version = None
                    continue
                self._pause(error)
            except Exception as error:  # a dropped connection surfaces as urllib3's own errors
                self._pause(error)

    def _list(self) -> str:
        items, version = self.cluster.list_all(self.resource, label_selector=self.label_selector)
        for item in items:  # items of a list may carry no kind (the list's is <Kind>List)
            item.setdefault("kind", self.resource.kind)
        self.stats.lists += 1
        self.feed.put(Listed(self.resource.plural, tuple(items)))
        log.debug("watch %s: listed %d at %s", self.resource.plural, len(items), version)
        return version

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
                    self.feed.put(Changed(self.resource.plural, str(kind), obj))
                if self.stop.is_set() or self.clock() >= relist_at:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:  # ends the HTTP stream when we broke out early
                close()
        return version

    def _pause(self, error: Exception) -> None:
        self.stats.errors += 1
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
        cluster: Cluster,
        resources: Sequence[Resource],
        *,
        program: str,
        resync_seconds: float,
        watch_timeout: int,
    ) -> None:
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
