"""One simulated cluster: store, API semantics, webhooks, operator, faults and counters.

`Simulator` wires the parts together and owns their lifecycle inside one event loop:
bootstrap (namespaces `default` and `kube-system`, the preloaded version catalog), start
and stop of the operator and the periodic watch-drop fault, and `reset()` — everything but
the catalog and the bootstrap namespaces cleared, faults and counters zeroed, history
compacted and open watches closed (clients must relist, as after an etcd restore). It
never speaks HTTP (`handlers.py`, `steering.py` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from services.sim import (
    apiserver,
    errors,
    faults,
    openapi,
    persistence,
    resources,
    store,
    watching,
    webhooks,
)
from services.sim.kubestash.controller import StashController
from services.sim.operator import Operator

log = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system")
CATALOG_GROUP = "catalog.kubedb.com"
CATALOG_GROUPS = (".catalog.kubedb.com", ".addons.kubestash.com")
"""Preloaded at every start from code: kept by reset, not saved in the state file."""


@dataclasses.dataclass(frozen=True)
class Options:
    provision_delay: float = 1.0
    """Seconds from a database's creation to Ready."""
    ops_step_delay: float = 0.5
    """Seconds per OpsRequest step (and per deletion / catch-up step)."""
    history: int = 20000
    """Events kept for watch resumption; older resourceVersions get 410 Gone."""
    watch_timeout: float = 1800.0
    """Server-side watch timeout when the client gives no timeoutSeconds."""
    bookmark_interval: float = 10.0
    """Seconds between BOOKMARK events on watches that allow them."""
    state: Path | None = None
    """The state file (`--state`): objects loaded at start, saved while they change."""
    state_interval: float = 1.0
    """At most one state save per this many seconds while objects change."""


class Simulator:
    def __init__(
        self,
        *,
        validator: apiserver.Validator | None,
        schemas: openapi.Schemas | None = None,
        crds: Iterable[resources.CrdDescription],
        catalog: list[dict[str, Any]],
        options: Options,
    ) -> None:
        self.options = options
        self.schemas = schemas
        """What /openapi/v2 and /openapi/v3 publish (the validator's schemas)."""
        self.resources = resources.build_table(crds)
        self.store = store.Store(history=options.history)
        self.hub = watching.WatchHub(self.store)
        self.cluster = apiserver.ApiServer(self.resources, self.store, validator=validator)
        self.cluster.admission.append(webhooks.KubeDBWebhooks())
        self.faults = faults.Faults()
        self.stats = faults.Stats()
        self.validation = validator is not None
        self._catalog = catalog
        self._ops_keys = {rt.key for rt in self.resources.types if rt.group == "ops.kubedb.com"}
        self.store.listeners.append(self._count_ops)
        self.operator = Operator(
            self.cluster,
            self.faults,
            provision_delay=options.provision_delay,
            ops_step_delay=options.ops_step_delay,
        )
        self.kubestash = StashController(
            self.cluster, self.faults, step_delay=options.ops_step_delay
        )
        self._dropper: asyncio.Task[None] | None = None
        self._saver: asyncio.Task[None] | None = None
        self._unsaved = False
        self.restored = self._restore()
        self._bootstrap()
        self.store.listeners.append(self._note_change)

    def _restore(self) -> int:
        """Objects loaded from the state file (raises persistence.StateError if unreadable)."""
        if self.options.state is None:
            return 0
        loaded = persistence.load(self.options.state)
        if loaded is None:
            return 0
        rv, saved = loaded
        served = {rt.key for rt in self.resources.types if not rt.key.endswith(CATALOG_GROUPS)}
        count = self.store.restore(rv, {k: v for k, v in saved.items() if k in served})
        self.cluster.reindex()
        self.operator.resync()
        return count

    def _note_change(self, event: store.Event) -> None:
        self._unsaved = True

    def save_state(self) -> None:
        if self.options.state is not None:
            data = persistence.snapshot(self.store, skip_groups=CATALOG_GROUPS)
            persistence.save(self.options.state, data)
            self._unsaved = False

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.options.state_interval)
            if self._unsaved:
                try:
                    self.save_state()
                except OSError:
                    log.exception("sim: cannot save the state to %s", self.options.state)

    def _count_ops(self, event: store.Event) -> None:
        if event.type == "ADDED" and event.resource in self._ops_keys:
            namespace, name = event.key
            self.stats.ops_created[f"{namespace}/{name}"] += 1

    def _bootstrap(self) -> None:
        namespaces = self.resources.by_key("namespaces")
        for name in BOOTSTRAP_NAMESPACES:
            if self.store.get("namespaces", ("", name)) is None:
                body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                self.cluster.create(namespaces, None, body, trusted=True)
        for obj in self._catalog:
            rt = self.resources.by_kind(obj["apiVersion"], obj["kind"])
            if rt is None:
                log.warning("sim: catalog kind %s is not served", obj["kind"])
                continue
            if self.store.get(rt.key, ("", obj["metadata"]["name"])) is None:
                self.cluster.create(rt, None, obj, trusted=True)

    def _kept(self, resource: str, entry: store.Entry) -> bool:
        if resource.endswith(CATALOG_GROUPS):
            return True
        return resource == "namespaces" and entry.obj["metadata"]["name"] in BOOTSTRAP_NAMESPACES

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.operator.start()
        self.kubestash.start()
        self._dropper = asyncio.get_running_loop().create_task(
            self._drop_watches_periodically(), name="sim-watch-dropper"
        )
        if self.options.state is not None:
            self._saver = asyncio.get_running_loop().create_task(
                self._save_periodically(), name="sim-state-saver"
            )

    async def stop(self) -> None:
        self.hub.drop_all()
        for task in (self._dropper, self._saver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.operator.stop()
        await self.kubestash.stop()
        self.save_state()

    async def reset(self) -> dict[str, Any]:
        await self.operator.reset()
        await self.kubestash.reset()
        dropped = self.hub.drop_all()
        self.cluster.terminating.clear()
        self.store.clear(self._kept)
        self.cluster.dependents.clear()
        self._bootstrap()
        self._unsaved = True  # the cleared store reaches the state file too
        self.faults.__init__()  # type: ignore[misc]
        self.stats.reset()
        return {"resourceVersion": str(self.store.rv), "watches_dropped": dropped}

    def compact(self, *, drop_watches: bool = True) -> dict[str, Any]:
        """The forced-410 fault: history forgotten; open watches end with a 410 ERROR."""
        self.store.compact()
        dropped = 0
        if drop_watches:
            error = errors.expired(
                f"too old resource version: {self.store.compacted} ({self.store.compacted})"
            )
            dropped = self.hub.drop_all(watching.error_line(error))
            self.stats.watch_drops += dropped
        return {"compacted": str(self.store.compacted), "watches_dropped": dropped}

    def drop_watches(self) -> int:
        dropped = self.hub.drop_all()
        self.stats.watch_drops += dropped
        return dropped

    async def _drop_watches_periodically(self) -> None:
        while True:
            interval = self.faults.watch_drop_interval
            await asyncio.sleep(interval if interval else 0.2)
            if self.faults.watch_drop_interval:
                self.drop_watches()

    def counts(self) -> dict[str, int]:
        return {
            key: len(c.entries) for key, c in sorted(self.store.collections.items()) if c.entries
        }
