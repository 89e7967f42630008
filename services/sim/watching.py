"""Watch streams: fan-out of store events to HTTP watchers as newline-delimited JSON.

A watcher is registered synchronously together with its replay (history since the asked
resourceVersion, or the current objects as ADDED), so no event can fall between the two.
Selector transitions are translated as a real server does: an object that stops matching
is sent as DELETED, one that starts matching as ADDED. Each event's line is encoded once
and shared by all watchers. This module never writes objects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable

from services.sim import errors, store
from services.sim.selectors import Predicate

BACKLOG_LIMIT = 100_000
"""A watcher this far behind is cut off, as a real server drops slow watchers."""


def error_line(error: errors.ApiError) -> bytes:
    return b'{"type":"ERROR","object":' + store.encode(error.status()) + b"}\n"


class Watcher:
    def __init__(self, resource: str, namespace: str | None, predicate: Predicate | None) -> None:
        self.resource = resource
        self.namespace = namespace
        self.predicate = predicate
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def line_for(self, event: store.Event) -> bytes | None:
        if self.namespace is not None and event.key[0] != self.namespace:
            return None
        predicate = self.predicate
        if predicate is None:
            return event.line()
        if event.type == "ADDED":
            return event.line() if predicate(event.entry.obj) else None
        old_match = event.old is not None and predicate(event.old)
        if event.type == "DELETED":
            return event.line() if old_match or predicate(event.entry.obj) else None
        new_match = predicate(event.entry.obj)
        if old_match and new_match:
            return event.line()
        if old_match:
            return event.line("DELETED")
        if new_match:
            return event.line("ADDED")
        return None

    def offer(self, event: store.Event) -> None:
        if self.closed:
            return
        line = self.line_for(event)
        if line is None:
            return
        if self.queue.qsize() >= BACKLOG_LIMIT:
            self.close()
            return
        self.queue.put_nowait(line)

    def close(self, final: bytes | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if final is not None:
            self.queue.put_nowait(final)
        self.queue.put_nowait(None)


class WatchHub:
    """Every open watcher, keyed by resource, fed from the store's event listener."""

    def __init__(self, object_store: store.Store) -> None:
        self.store = object_store
        self.watchers: dict[str, set[Watcher]] = {}
        object_store.listeners.append(self.dispatch)

    def dispatch(self, event: store.Event) -> None:
        for watcher in self.watchers.get(event.resource, ()):
            watcher.offer(event)

    def open(
        self,
        resource: str,
        *,
        namespace: str | None,
        predicate: Predicate | None,
        since: int | None,
        current: Callable[[], Iterable[store.Entry]],
        initial_events_end: Callable[[], bytes] | None = None,
    ) -> Watcher:
        """Register a watcher and queue its replay; an expired `since` yields one ERROR.

        With `initial_events_end` (a watch-list request, `sendInitialEvents=true`) the replay
        is the current objects as ADDED followed by that BOOKMARK line, which tells the
        client its initial state is complete."""
        watcher = Watcher(resource, namespace, predicate)
        if since is None or initial_events_end is not None:
            for entry in current():
                watcher.queue.put_nowait(b'{"type":"ADDED","object":' + entry.raw + b"}\n")
            if initial_events_end is not None:
                watcher.queue.put_nowait(initial_events_end())
        else:
            try:
                replay = self.store.events_after(since, resource)
            except errors.ApiError as error:
                watcher.close(error_line(error))
                return watcher
            for event in replay:
                watcher.offer(event)
        self.watchers.setdefault(resource, set()).add(watcher)
        return watcher

    def forget(self, watcher: Watcher) -> None:
        watchers = self.watchers.get(watcher.resource)
        if watchers is not None:
            watchers.discard(watcher)
        watcher.close()

    def active(self) -> int:
        return sum(len(watchers) for watchers in self.watchers.values())

    def drop_all(self, final: bytes | None = None) -> int:
        """Close every open watch (optionally after one last line, e.g. a 410 ERROR)."""
        dropped = 0
        for watchers in self.watchers.values():
            for watcher in list(watchers):
                watcher.close(final)
                dropped += 1
            watchers.clear()
        return dropped


async def stream(
    hub: WatchHub,
    watcher: Watcher,
    *,
    timeout: float,
    bookmark: Callable[[], bytes] | None,
    bookmark_interval: float,
) -> AsyncIterator[bytes]:
    """The body of a watch response: queued lines, batched, until timeout or close."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    queue = watcher.queue
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                # Flush what is already queued so a final bookmark never skips an event.
                chunk, closed = _drain(queue, [])
                if chunk:
                    yield b"".join(chunk)
                if bookmark is not None and not closed:
                    yield bookmark()
                return
            if queue.empty():
                wait = min(remaining, bookmark_interval) if bookmark else remaining
                try:
                    item = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if bookmark is not None and loop.time() < deadline:
                        yield bookmark()
                    continue
            else:
                item = queue.get_nowait()
            if item is None:
                return
            chunk, closed = _drain(queue, [item])
            yield b"".join(chunk)
            if closed:
                return
    finally:
        with contextlib.suppress(Exception):
            hub.forget(watcher)


def _drain(queue: asyncio.Queue[bytes | None], chunk: list[bytes]) -> tuple[list[bytes], bool]:
    """Take every queued line without waiting; True when the close marker was reached."""
    while not queue.empty():
        item = queue.get_nowait()
        if item is None:
            return chunk, True
        chunk.append(item)
    return chunk, False
