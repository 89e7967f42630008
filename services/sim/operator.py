"""The simulated KubeDB provisioner: databases from creation to Ready, halting and deletion.

Driven by the store's change events, level-triggered: an event only marks a database (or
the OpsRequests of a database) dirty; one named asyncio task reconciles dirty items from
their current state, and timed steps (provisioning delay, deletion) run as named tasks that
re-read the object before acting. Writes go through `ApiServer` with `trusted=True`, as the
operator's own writes. What it does mirrors KUBEDB-API.md: finalizer `kubedb.com`, phase
Provisioning then Ready with the documented conditions and `observedGeneration`, the
`<name>-auth` Secret and `<name>` Service, deletion by `deletionPolicy` (Halt/Delete keep
the Secret, WipeOut deletes it, DoNotTerminate behaves as Halt when the webhook is
bypassed), and phases forced by faults (Critical, NotReady). OpsRequests are
`opsmanager.py`'s. Never call it from request handlers except through `set_phase`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.sim import errors, kubedb, objects, offshoots, patching
from services.sim.apiserver import ApiServer
from services.sim.faults import Faults
from services.sim.kubestash import restores
from services.sim.resources import ResourceType
from services.sim.store import Event

log = logging.getLogger(__name__)

FORCEABLE_PHASES = ("Critical", "NotReady")
WorkItem = tuple[str, kubedb.Engine, str, str]
"""("db" | "ops", engine, namespace, database name)."""


class Tasks:
    """Named, tracked background steps; at most one per key."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def later(self, key: str, delay: float, step: Callable[[], Awaitable[None] | None]) -> None:
        existing = self._tasks.get(key)
        if existing is not None and not existing.done():
            return
        task = asyncio.get_running_loop().create_task(
            self._run(key, delay, step), name=f"sim-operator:{key}"
        )
        self._tasks[key] = task

    async def _run(
        self, key: str, delay: float, step: Callable[[], Awaitable[None] | None]
    ) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            result = step()
            if result is not None:
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sim operator: step %s failed", key)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    def cancel(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def __len__(self) -> int:
        return len(self._tasks)


class Operator:
    def __init__(
        self,
        cluster: ApiServer,
        faults: Faults,
        *,
        provision_delay: float,
        ops_step_delay: float,
    ) -> None:
        from services.sim.opsmanager import OpsManager  # the two halves reference each other

        self.cluster = cluster
        self.faults = faults
        self.provision_delay = provision_delay
        self.ops_step_delay = ops_step_delay
        self.tasks = Tasks()
        self.forced: dict[tuple[kubedb.Engine, str, str], str] = {}
        self.db_types: dict[str, tuple[ResourceType, kubedb.EngineSpec]] = {}
        self.ops_types: dict[str, tuple[ResourceType, kubedb.EngineSpec]] = {}
        for spec in kubedb.ENGINES.values():
            db_rt = cluster.resources.find(kubedb.DB_GROUP, kubedb.DB_VERSION, spec.plural)
            ops_rt = cluster.resources.find(kubedb.OPS_GROUP, kubedb.OPS_VERSION, spec.ops_plural)
            if db_rt is not None:
                self.db_types[db_rt.key] = (db_rt, spec)
            if ops_rt is not None:
                self.ops_types[ops_rt.key] = (ops_rt, spec)
        self.ops = OpsManager(self)
        # An OrderedDict, not a dict: taking the first key of a dict whose front was deleted
        # scans the holes, which made the drain after a restore of 100,000 databases
        # quadratic (seconds of the sim's CPU); popitem(last=False) is O(1).
        self._dirty: collections.OrderedDict[WorkItem, None] = collections.OrderedDict()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        cluster.store.listeners.append(self._on_event)

    # -- plumbing --------------------------------------------------------------------------

    def db_rt(self, engine: kubedb.Engine) -> tuple[ResourceType, kubedb.EngineSpec]:
        spec = kubedb.ENGINES[engine]
        return self.db_types[f"{spec.plural}.{kubedb.DB_GROUP}"]

    def ops_rt(self, engine: kubedb.Engine) -> tuple[ResourceType, kubedb.EngineSpec]:
        spec = kubedb.ENGINES[engine]
        return self.ops_types[f"{spec.ops_plural}.{kubedb.OPS_GROUP}"]

    def _on_event(self, event: Event) -> None:
        if event.resource in self.db_types:
            engine = self.db_types[event.resource][1].engine
            self.mark(("db", engine, event.key[0], event.key[1]))
        elif event.resource in self.ops_types:
            engine = self.ops_types[event.resource][1].engine
            ref = ((event.entry.obj.get("spec") or {}).get("databaseRef") or {}).get("name")
            if ref:
                self.mark(("ops", engine, event.key[0], str(ref)))

    def mark(self, item: WorkItem) -> None:
        self._dirty[item] = None
        self._wake.set()

    def resync(self) -> None:
        """Mark every database and every database with OpsRequests for a reconcile (after a
        restore: the operator picks up Provisioning, Progressing and deletions where they
        stood)."""
        store = self.cluster.store
        for key, (_, spec) in self.db_types.items():
            for namespace, name in store.collection(key).keys:
                self.mark(("db", spec.engine, namespace, name))
        for key, (_, spec) in self.ops_types.items():
            for entry in store.collection(key).entries.values():
                ref = ((entry.obj.get("spec") or {}).get("databaseRef") or {}).get("name")
                if ref:
                    self.mark(("ops", spec.engine, entry.obj["metadata"]["namespace"], str(ref)))

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="sim-operator")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await self.tasks.cancel_all()

    async def reset(self) -> None:
        await self.tasks.cancel_all()
        self._dirty.clear()
        self.forced.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            handled = 0
            while self._dirty:
                item, _ = self._dirty.popitem(last=False)
                try:
                    if item[0] == "db":
                        self.reconcile_db(item[1], item[2], item[3])
                    else:
                        self.ops.reconcile(item[1], item[2], item[3])
                except Exception:
                    log.exception("sim operator: reconcile of %s failed", item)
                handled += 1
                if handled % 50 == 0:
                    await asyncio.sleep(0)  # let requests in during a burst

    def now(self) -> str:
        return objects.timestamp(self.cluster.clock())

    # -- writes ----------------------------------------------------------------------------

    def merge(self, rt: ResourceType, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.cluster.patch(rt, namespace, name, patch, patching.MERGE, trusted=True)

    def write_status(
        self, rt: ResourceType, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        body = {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            "metadata": {"name": name, "namespace": namespace},
            "status": status,
        }
        self.cluster.replace(rt, namespace, name, body, subresource="status", trusted=True)

    # -- databases -------------------------------------------------------------------------

    def reconcile_db(self, engine: kubedb.Engine, namespace: str, name: str) -> None:
        rt, _ = self.db_rt(engine)
        db = self.cluster.find(rt, namespace, name)
        if db is None:
            self.forced.pop((engine, namespace, name), None)
            self.mark(("ops", engine, namespace, name))
            return
        meta, status = db["metadata"], db.get("status") or {}
        uid = meta["uid"]
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if offshoots.FINALIZER in finalizers:
                self.tasks.later(
                    f"finalize:{uid}",
                    self.ops_step_delay,
                    lambda: self._finalize(engine, namespace, name, uid),
                )
            return
        if offshoots.FINALIZER not in finalizers:
            self.merge(
                rt,
                namespace,
                name,
                {"metadata": {"finalizers": [*finalizers, offshoots.FINALIZER]}},
            )
        phase = status.get("phase")
        halted = bool((db.get("spec") or {}).get("halted"))
        if not phase or (phase == "Halted" and not halted):
            self._start_provisioning(engine, db)
            return
        if halted and phase != "Halted":
            self._halt(engine, db)
            return
        if phase == "Halted":
            return
        gate = restores.restore_gate(db)
        if gate in (restores.Gate.WAITING, restores.Gate.FAILED):
            return  # KubeDB's restore initializer owns the phase until the data is in
        if phase in ("Provisioning", "DataRestoring"):
            self.tasks.later(
                f"provision:{uid}",
                self.provision_delay,
                lambda: self._provision(engine, namespace, name, uid),
            )
            return
        self._observe(engine, db)
        self.mark(("ops", engine, namespace, name))

    def _start_provisioning(self, engine: kubedb.Engine, db: dict[str, Any]) -> None:
        rt, _ = self.db_rt(engine)
        meta = db["metadata"]
        status = {
            "phase": "Provisioning",
            "conditions": offshoots.provisioning_conditions(db, now=self.now()),
        }
        self.write_status(rt, meta["namespace"], meta["name"], status)
        uid = meta["uid"]
        self.tasks.later(
            f"provision:{uid}",
            self.provision_delay,
            lambda: self._provision(engine, meta["namespace"], meta["name"], uid),
        )

    def _current(
        self, engine: kubedb.Engine, namespace: str, name: str, uid: str
    ) -> dict[str, Any] | None:
        rt, _ = self.db_rt(engine)
        db = self.cluster.find(rt, namespace, name)
        if db is None or db["metadata"]["uid"] != uid:
            return None
        return db

    def _ensure(self, rt_key: str, obj: dict[str, Any]) -> None:
        rt = self.cluster.resources.by_key(rt_key)
        meta = obj["metadata"]
        if self.cluster.find(rt, meta["namespace"], meta["name"]) is None:
            self.cluster.create(rt, meta["namespace"], obj, trusted=True)

    def _provision(self, engine: kubedb.Engine, namespace: str, name: str, uid: str) -> None:
        db = self._current(engine, namespace, name, uid)
        if db is None or db["metadata"].get("deletionTimestamp"):
            return
        if (db.get("spec") or {}).get("halted"):
            return
        if restores.restore_gate(db) in (restores.Gate.WAITING, restores.Gate.FAILED):
            return  # spec.init.waitForInitialRestore: Ready only once DataRestored=True
        rt, spec = self.db_rt(engine)
        secret = offshoots.auth_secret(spec, db)
        auth = (db.get("spec") or {}).get("authSecret") or {}
        try:
            if auth.get("externallyManaged"):
                secrets_rt = self.cluster.resources.by_key("secrets")
                if self.cluster.find(secrets_rt, namespace, secret["metadata"]["name"]) is None:
                    log.info(
                        "sim operator: %s/%s waits for its external auth Secret", namespace, name
                    )
                    self.tasks.later(
                        f"provision:{uid}:retry",
                        self.provision_delay,
                        lambda: self._provision(engine, namespace, name, uid),
                    )
                    return
            else:
                self._ensure("secrets", secret)
            self._ensure("services", offshoots.primary_service(spec, db))
        except errors.ApiError as error:
            log.warning("sim operator: cannot provision %s/%s: %s", namespace, name, error)
            return
        if not auth.get("name"):
            self.merge(
                rt, namespace, name, {"spec": {"authSecret": {"name": secret["metadata"]["name"]}}}
            )
        db = self.cluster.find(rt, namespace, name)
        if db is None:
            return
        phase = self.forced.get((engine, namespace, name), "Ready")
        self._write_phase(engine, db, phase, observe=True)

    def _write_phase(
        self, engine: kubedb.Engine, db: dict[str, Any], phase: str, *, observe: bool
    ) -> None:
        rt, _ = self.db_rt(engine)
        meta = db["metadata"]
        status = dict(db.get("status") or {})
        paused = [c for c in status.get("conditions") or [] if c.get("type") == "Paused"]
        status["phase"] = phase
        status["conditions"] = (
            offshoots.phase_conditions(db, phase, now=self.now())
            + paused
            + restores.restore_conditions(db)
        )
        if observe:
            status["observedGeneration"] = int(meta.get("generation", 1))
        self.write_status(rt, meta["namespace"], meta["name"], status)

    def _observe(self, engine: kubedb.Engine, db: dict[str, Any]) -> None:
        """Catch up with a spec change made outside an OpsRequest (or a forced phase)."""
        meta, status = db["metadata"], db.get("status") or {}
        forced = self.forced.get((engine, meta["namespace"], meta["name"]), "Ready")
        paused = any(
            c.get("type") == "Paused" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        behind = int(status.get("observedGeneration") or 0) < int(meta.get("generation", 1))
        if status.get("phase") != forced:
            self._write_phase(engine, db, forced, observe=False)
        if behind and not paused:
            uid = meta["uid"]
            self.tasks.later(
                f"observe:{uid}",
                self.ops_step_delay,
                lambda: self._catch_up(engine, meta["namespace"], meta["name"], uid),
            )

    def _catch_up(self, engine: kubedb.Engine, namespace: str, name: str, uid: str) -> None:
        db = self._current(engine, namespace, name, uid)
        if db is None or db["metadata"].get("deletionTimestamp"):
            return
        status = db.get("status") or {}
        if status.get("phase") in (None, "Provisioning", "Halted"):
            return
        if any(c.get("type") == "Paused" for c in status.get("conditions") or []):
            return
        self._write_phase(engine, db, status["phase"], observe=True)

    def _halt(self, engine: kubedb.Engine, db: dict[str, Any]) -> None:
        rt, _ = self.db_rt(engine)
        meta = db["metadata"]
        self._delete_services(meta["namespace"], meta["name"], meta["uid"])
        now = self.now()
        status = {
            "phase": "Halted",
            "observedGeneration": int(meta.get("generation", 1)),
            "conditions": [
                offshoots.condition(
                    "Halted",
                    True,
                    "DatabaseHaltedSuccessfully",
                    f"{db['kind']} {meta['namespace']}/{meta['name']} is halted",
                    now=now,
                    generation=int(meta.get("generation", 1)),
                )
            ],
        }
        self.write_status(rt, meta["namespace"], meta["name"], status)

    def _delete_services(self, namespace: str, name: str, uid: str) -> None:
        services = self.cluster.resources.by_key("services")
        svc = self.cluster.find(services, namespace, name)
        owners = {
            ref.get("uid") for ref in (svc or {}).get("metadata", {}).get("ownerReferences") or []
        }
        if svc is not None and uid in owners:
            with contextlib.suppress(errors.ApiError):
                self.cluster.delete(services, namespace, name, trusted=True)

    def _finalize(self, engine: kubedb.Engine, namespace: str, name: str, uid: str) -> None:
        db = self._current(engine, namespace, name, uid)
        if db is None or not db["metadata"].get("deletionTimestamp"):
            return
        rt, _ = self.db_rt(engine)
        policy = (db.get("spec") or {}).get("deletionPolicy") or "Delete"
        self._delete_services(namespace, name, uid)
        secrets_rt = self.cluster.resources.by_key("secrets")
        secret_name = offshoots.auth_secret_name(db)
        secret = self.cluster.find(secrets_rt, namespace, secret_name)
        if secret is not None:
            refs = secret["metadata"].get("ownerReferences") or []
            managed = (secret["metadata"].get("labels") or {}).get(
                "app.kubernetes.io/managed-by"
            ) == offshoots.MANAGED_BY
            if policy == "WipeOut" and managed:
                with contextlib.suppress(errors.ApiError):
                    self.cluster.delete(secrets_rt, namespace, secret_name, trusted=True)
            elif any(ref.get("uid") == uid for ref in refs):
                kept = [ref for ref in refs if ref.get("uid") != uid]
                self.merge(
                    secrets_rt,
                    namespace,
                    secret_name,
                    {"metadata": {"ownerReferences": kept or None}},
                )
        finalizers = [f for f in db["metadata"].get("finalizers") or [] if f != offshoots.FINALIZER]
        self.merge(rt, namespace, name, {"metadata": {"finalizers": finalizers or None}})

    # -- faults ----------------------------------------------------------------------------

    def set_phase(self, engine: kubedb.Engine, namespace: str, name: str, phase: str) -> None:
        """Force Critical/NotReady (or back to Ready) on a provisioned database."""
        if phase not in (*FORCEABLE_PHASES, "Ready"):
            raise errors.bad_request(
                f"phase must be one of Critical, NotReady, Ready (got {phase})"
            )
        rt, _ = self.db_rt(engine)
        db = self.cluster.get(rt, namespace, name).obj
        if phase == "Ready":
            self.forced.pop((engine, namespace, name), None)
        else:
            self.forced[(engine, namespace, name)] = phase
        if (db.get("status") or {}).get("phase") in ("Ready", *FORCEABLE_PHASES):
            self._write_phase(engine, db, phase, observe=False)
        self.mark(("ops", engine, namespace, name))
