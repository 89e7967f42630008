"""The simulated KubeDB ops-manager: OpsRequests Pending -> Progressing -> Successful | Failed.

Per database, as apimachinery's queue does it (KUBEDB-API.md §2.5): at most one OpsRequest
Progressing; among Pending ones of the same type all but the newest become Skipped; across
types the oldest (creationTimestamp, then name) runs first; with `apply: IfReady` (the
default) a request waits while the database is not Ready (and does not hold up an `Always`
one behind it). While one runs the database
carries the `Paused` condition, removed when the request ends. The change itself is
decided by `opsplans.plan` and written back into the database spec (generation bumps,
observedGeneration follows). Faults can make the next request fail or hang in Progressing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from services.sim import kubedb, offshoots, opsplans, store, webhooks

if TYPE_CHECKING:
    from services.sim.operator import Operator

log = logging.getLogger(__name__)

TERMINAL = ("Successful", "Failed", "Skipped", "Denied")


def _created(op: dict[str, Any]) -> tuple[str, str]:
    meta = op["metadata"]
    return (meta.get("creationTimestamp", ""), meta["name"])


def _database_ref(obj: dict[str, Any] | None) -> str | None:
    ref = ((obj or {}).get("spec") or {}).get("databaseRef") or {}
    name = ref.get("name") if isinstance(ref, dict) else None
    return str(name) if name else None


class OpsManager:
    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self.cluster = operator.cluster
        # (ops resource, namespace, database) -> names of the OpsRequests that reference it,
        # kept from the store's events: a reconcile looks up one database's requests instead
        # of scanning every OpsRequest of the namespace (several times per request).
        self.by_database: dict[tuple[str, str, str], set[str]] = {}
        self.cluster.store.listeners.append(self._index)

    def _index(self, event: store.Event) -> None:
        if event.resource not in self.operator.ops_types:
            return
        namespace, name = event.key
        before = _database_ref(event.old)
        after = None if event.type == "DELETED" else _database_ref(event.entry.obj)
        if before == after:
            return
        if before is not None:
            names = self.by_database.get((event.resource, namespace, before))
            if names is not None:
                names.discard(name)
                if not names:
                    del self.by_database[(event.resource, namespace, before)]
        if after is not None:
            self.by_database.setdefault((event.resource, namespace, after), set()).add(name)

    def _ops_for(self, engine: kubedb.Engine, namespace: str, db_name: str) -> list[dict[str, Any]]:
        rt, _ = self.operator.ops_rt(engine)
        collection = self.cluster.store.collection(rt.key)
        names = sorted(self.by_database.get((rt.key, namespace, db_name), ()))
        entries = (collection.entries.get((namespace, name)) for name in names)
        return [entry.obj for entry in entries if entry is not None]

    def _status(self, engine: kubedb.Engine, op: dict[str, Any], status: dict[str, Any]) -> None:
        rt, _ = self.operator.ops_rt(engine)
        meta = op["metadata"]
        self.operator.write_status(rt, meta["namespace"], meta["name"], status)

    def _condition(
        self, op: dict[str, Any], kind: str, reason: str, message: str, *, status: bool = True
    ) -> dict[str, Any]:
        return offshoots.condition(
            kind,
            status,
            reason,
            message,
            now=self.operator.now(),
            generation=int(op["metadata"].get("generation", 1)),
        )

    def reconcile(self, engine: kubedb.Engine, namespace: str, db_name: str) -> None:
        ops = self._ops_for(engine, namespace, db_name)
        for op in ops:
            if not (op.get("status") or {}).get("phase"):
                self._status(
                    engine,
                    op,
                    {
                        "phase": "Pending",
                        "observedGeneration": int(op["metadata"].get("generation", 1)),
                    },
                )
                op["status"] = {"phase": "Pending"}
        live = [op for op in ops if not op["metadata"].get("deletionTimestamp")]
        pending = [op for op in live if (op.get("status") or {}).get("phase") == "Pending"]
        pending = self._skip_superseded(engine, pending)
        if any((op.get("status") or {}).get("phase") == "Progressing" for op in live):
            return
        if not pending:
            return
        db_rt, _ = self.operator.db_rt(engine)
        db = self.cluster.find(db_rt, namespace, db_name)
        if db is None or db["metadata"].get("deletionTimestamp"):
            reason = f"database {namespace}/{db_name} not found or being deleted"
            self._fail(engine, min(pending, key=_created), None, reason)
            self.operator.mark(("ops", engine, namespace, db_name))
            return
        ready = (db.get("status") or {}).get("phase") == "Ready"
        eligible = [
            op
            for op in pending
            if ready or ((op.get("spec") or {}).get("apply") or "IfReady") == "Always"
        ]
        if eligible:
            self._start(engine, min(eligible, key=_created), db)

    def _skip_superseded(
        self, engine: kubedb.Engine, pending: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        newest: dict[str, dict[str, Any]] = {}
        for op in pending:
            op_type = str((op.get("spec") or {}).get("type"))
            if op_type not in newest or _created(op) > _created(newest[op_type]):
                newest[op_type] = op
        kept = []
        for op in pending:
            op_type = str((op.get("spec") or {}).get("type"))
            winner = newest[op_type]
            if winner is op:
                kept.append(op)
                continue
            ref = f"{winner['metadata']['namespace']}/{winner['metadata']['name']}"
            message = f"skipped as {ref} is the most updated {op['kind']} of type {op_type}"
            self._status(
                engine,
                op,
                {
                    "phase": "Skipped",
                    "observedGeneration": int(op["metadata"].get("generation", 1)),
                    "conditions": [self._condition(op, "Skipped", "Skipped", message)],
                },
            )
        return kept

    def _set_paused(self, engine: kubedb.Engine, db: dict[str, Any], paused: bool) -> None:
        rt, _ = self.operator.db_rt(engine)
        meta = db["metadata"]
        status = dict(db.get("status") or {})
        conditions = list(status.get("conditions") or [])
        if paused:
            conditions = offshoots.with_condition(
                conditions,
                offshoots.condition(
                    "Paused",
                    True,
                    "Paused",
                    "The database is paused by an OpsRequest",
                    now=self.operator.now(),
                    generation=int(meta.get("generation", 1)),
                ),
            )
        else:
            conditions = offshoots.without_condition(conditions, "Paused")
        status["conditions"] = conditions
        self.operator.write_status(rt, meta["namespace"], meta["name"], status)

    def _start(self, engine: kubedb.Engine, op: dict[str, Any], db: dict[str, Any]) -> None:
        meta = op["metadata"]
        self._status(
            engine,
            op,
            {
                "phase": "Progressing",
                "observedGeneration": int(meta.get("generation", 1)),
                "conditions": [
                    self._condition(
                        op,
                        "Progressing",
                        "Progressing",
                        f"{op['kind']}: {meta['namespace']}/{meta['name']} is progressing",
                    )
                ],
            },
        )
        self._set_paused(engine, db, True)
        uid = meta["uid"]
        self.operator.tasks.later(
            f"ops:{uid}",
            0.0,
            lambda: self._execute(engine, meta["namespace"], meta["name"], uid),
        )

    def _current_op(
        self, engine: kubedb.Engine, namespace: str, name: str, uid: str
    ) -> dict[str, Any] | None:
        rt, _ = self.operator.ops_rt(engine)
        op = self.cluster.find(rt, namespace, name)
        if op is None or op["metadata"]["uid"] != uid:
            return None
        if (op.get("status") or {}).get("phase") != "Progressing":
            return None
        return op

    async def _execute(self, engine: kubedb.Engine, namespace: str, name: str, uid: str) -> None:
        step = self.operator.ops_step_delay
        op = self._current_op(engine, namespace, name, uid)
        if op is None:
            return
        db_name = str(op["spec"]["databaseRef"]["name"])
        fault = self.operator.faults.take_ops_fault(namespace, db_name)
        await asyncio.sleep(step)
        op = self._current_op(engine, namespace, name, uid)
        if op is None:
            return
        if fault is not None and fault.mode == "hang":
            log.info("sim ops-manager: %s/%s hangs in Progressing (fault)", namespace, name)
            return
        db_rt, spec = self.operator.db_rt(engine)
        db = self.cluster.find(db_rt, namespace, db_name)
        if fault is not None:
            self._fail(engine, op, db, fault.reason)
            return
        if db is None:
            self._fail(engine, op, None, f"database {namespace}/{db_name} not found")
            return
        try:
            change = opsplans.plan(spec, op, db, webhooks.catalog_of(self.cluster, spec))
        except opsplans.OpsFailure as failure:
            self._fail(engine, op, db, str(failure))
            return
        op_type = str(op["spec"].get("type"))
        step_name = opsplans.STEP_CONDITIONS.get(op_type, op_type)
        status = dict(op.get("status") or {})
        status["conditions"] = [
            *status.get("conditions", []),
            self._condition(
                op, step_name, f"Successfully{step_name}", f"{step_name} is in progress"
            ),
        ]
        self._status(engine, op, status)
        await asyncio.sleep(step)
        op = self._current_op(engine, namespace, name, uid)
        db = self.cluster.find(db_rt, namespace, db_name)
        if op is None:
            return
        if db is None:
            self._fail(engine, op, None, f"database {namespace}/{db_name} not found")
            return
        if change:
            self.operator.merge(db_rt, namespace, db_name, {"spec": change})
            db = self.cluster.find(db_rt, namespace, db_name)
        if db is not None:
            self._finish_database(engine, db)
        status = dict(op.get("status") or {})
        status["phase"] = "Successful"
        status["conditions"] = [
            *status.get("conditions", []),
            self._condition(
                op,
                "Successful",
                "Successful",
                f"Successfully completed {op_type} for {db['kind'] if db else 'database'}",
            ),
        ]
        self._status(engine, op, status)

    def _finish_database(self, engine: kubedb.Engine, db: dict[str, Any]) -> None:
        """Resume the database: Paused removed, the new generation observed."""
        meta = db["metadata"]
        status = dict(db.get("status") or {})
        status["conditions"] = offshoots.without_condition(status.get("conditions") or [], "Paused")
        if status.get("phase") not in (None, "Provisioning", "Halted"):
            status["observedGeneration"] = int(meta.get("generation", 1))
        rt, _ = self.operator.db_rt(engine)
        self.operator.write_status(rt, meta["namespace"], meta["name"], status)

    def _fail(
        self, engine: kubedb.Engine, op: dict[str, Any], db: dict[str, Any] | None, reason: str
    ) -> None:
        log.info(
            "sim ops-manager: %s/%s failed: %s",
            op["metadata"]["namespace"],
            op["metadata"]["name"],
            reason,
        )
        status = dict(op.get("status") or {})
        status["phase"] = "Failed"
        status["observedGeneration"] = int(op["metadata"].get("generation", 1))
        status["conditions"] = [
            *status.get("conditions", []),
            self._condition(op, "Failed", "OpsRequestFailed", reason),
        ]
        self._status(engine, op, status)
        if db is not None:
            self._set_paused(engine, db, False)
