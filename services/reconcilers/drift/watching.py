"""drift's watch of the database CRs: an out-of-band edit judged as it happens.

Why: a pass lists every CR, which at 100,000 databases takes ~10 s and ~200 requests
(bench/README.md), so an edit made behind dbaas's back waited up to a pass interval plus a
pass to be noticed. While drift leads, one thread per database kind (`listwatch.Watchers`
with `from_now`: no list of its own) streams the changes; every EVENT_POLL_SECONDS drift's
loop takes what arrived (`take_changes`), keeps each CR's latest state, and judges just
those databases, read by id in one query, with the pass's own rules (`compare.Comparer`).
A KubeDB status update is a change too: it is judged like any other, and finds nothing.

The periodic pass stays as the safety net: what changed while no watch ran (a 410 Gone
between two watches, a leader change, a restart) and orphan CRs are found there. No I/O
here: the loop owns the feed, the queries and the corrections.
"""

from __future__ import annotations

import dataclasses
import queue
import uuid

from services.reconcilers.cr_readings import Changed, Item, ObservedDatabase

EVENT_POLL_SECONDS = 0.2
"""How often drift's loop takes the changes that arrived: an edit is judged within this,
plus the watch's own delivery and one query by id."""
MAX_CHANGES = 5_000
"""Events taken per turn at most: a burst (KubeDB writing 1,000 statuses a second) is
judged in bounded turns, the next turn taking the rest."""
WATCH_RESYNC_SECONDS = 86_400.0
"""A `from_now` watcher's re-list only fetches a new version to watch from, and whatever
changed between the old watch and the new version would be skipped: it re-lists on 410
only, in practice (the pass is the full re-list)."""


@dataclasses.dataclass(frozen=True)
class Changes:
    """The latest state of each changed CR that carries a database id label."""

    present: dict[uuid.UUID, ObservedDatabase]
    """CRs added or modified, by database id."""
    gone: frozenset[uuid.UUID]
    """Databases whose CR was deleted (and not created again since)."""
    events: int

    @property
    def ids(self) -> set[uuid.UUID]:
        return set(self.present) | set(self.gone)


def take_changes(feed: queue.Queue[Item], *, limit: int = MAX_CHANGES) -> Changes:
    """Drain up to `limit` events from the feed without waiting."""
    latest: dict[tuple[str, str, str], tuple[str, ObservedDatabase]] = {}
    events = 0
    while events < limit:
        try:
            item = feed.get_nowait()
        except queue.Empty:
            break
        if not isinstance(item, Changed):
            continue  # a `from_now` watcher puts no lists on the feed
        events += 1
        reading = item.obj
        if isinstance(reading, ObservedDatabase):
            latest[(item.plural, reading.namespace, reading.name)] = (item.type, reading)
    present: dict[uuid.UUID, ObservedDatabase] = {}
    gone: set[uuid.UUID] = set()
    for kind, reading in latest.values():
        database_id = reading.database_id
        if database_id is None:
            continue  # not labelled as a database's: the pass reports it as an orphan
        if kind == "DELETED":
            gone.add(database_id)
            present.pop(database_id, None)
        else:
            present[database_id] = reading
            gone.discard(database_id)
    return Changes(present, frozenset(gone), events)
