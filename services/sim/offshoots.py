"""What KubeDB creates for a database, and the status it reports, as pure renderers.

The `<name>-auth` Secret (basic-auth, `username`/`password`), the primary Service `<name>`,
their labels (`app.kubernetes.io/{name,instance,managed-by}`) and owner references, the
conditions of a Ready / Critical / NotReady database (KUBEDB-API.md §1.4, §4), and
kmodules' `NameWithSuffix`, which truncates the database name so a derived name fits 63
characters. Pure functions; the operator stores what they return.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from services.sim import kubedb

MAX_NAME = 63
FINALIZER = "kubedb.com"
MANAGED_BY = "kubedb.com"


def name_with_suffix(name: str, suffix: str, max_length: int = MAX_NAME) -> str:
    """kmodules `meta.NameWithSuffix`: `<name>-<suffix>`, the name cut so the result fits."""
    if len(suffix) >= max_length:
        return suffix[len(suffix) - max_length :].strip("-")
    return f"{name[: max_length - len(suffix) - 1]}-{suffix}".strip("-")


def auth_secret_name(db: dict[str, Any]) -> str:
    configured = ((db.get("spec") or {}).get("authSecret") or {}).get("name")
    return str(configured) if configured else name_with_suffix(db["metadata"]["name"], "auth")


def labels(engine: kubedb.EngineSpec, db_name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"{engine.plural}.{kubedb.DB_GROUP}",
        "app.kubernetes.io/instance": db_name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def owner_reference(db: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": db["apiVersion"],
        "kind": db["kind"],
        "name": db["metadata"]["name"],
        "uid": db["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def auth_secret(engine: kubedb.EngineSpec, db: dict[str, Any]) -> dict[str, Any]:
    meta = db["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": auth_secret_name(db),
            "namespace": meta["namespace"],
            "labels": labels(engine, meta["name"]),
            "ownerReferences": [owner_reference(db)],
        },
        "type": "kubernetes.io/basic-auth",
        "data": {
            "username": _b64(engine.default_user),
            "password": _b64(secrets.token_urlsafe(12)),
        },
    }


def primary_service(engine: kubedb.EngineSpec, db: dict[str, Any]) -> dict[str, Any]:
    meta = db["metadata"]
    selector = labels(engine, meta["name"])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {**selector, "app.kubernetes.io/component": "database"},
            "ownerReferences": [owner_reference(db)],
        },
        "spec": {
            "type": "ClusterIP",
            "ports": [
                {"name": "primary", "port": engine.port, "targetPort": "db", "protocol": "TCP"}
            ],
            "selector": {**selector, "kubedb.com/role": "primary"},
        },
    }


def condition(
    kind: str,
    status: bool,
    reason: str,
    message: str,
    *,
    now: str,
    generation: int,
    severity: str | None = None,
) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": now,
    }
    if not status and severity:
        cond["severity"] = severity
    return cond


def provisioning_conditions(db: dict[str, Any], *, now: str) -> list[dict[str, Any]]:
    meta = db["metadata"]
    return [
        condition(
            "ProvisioningStarted",
            True,
            "DatabaseProvisioningStartedSuccessfully",
            f"The KubeDB operator has started the provisioning of {db['kind']}: "
            f"{meta['namespace']}/{meta['name']}",
            now=now,
            generation=int(meta.get("generation", 1)),
        )
    ]


def phase_conditions(db: dict[str, Any], phase: str, *, now: str) -> list[dict[str, Any]]:
    """Conditions of a provisioned database in `phase` (Ready, Critical or NotReady)."""
    meta = db["metadata"]
    ref = f"{meta['namespace']}/{meta['name']}"
    gen = int(meta.get("generation", 1))
    replicas_ready = phase == "Ready"
    accepting = phase != "NotReady"
    ready = phase == "Ready"
    return [
        *provisioning_conditions(db, now=now),
        condition(
            "ReplicaReady",
            replicas_ready,
            "AllReplicasReady" if replicas_ready else "SomeReplicasNotReady",
            "All desired replicas are ready."
            if replicas_ready
            else f"some replicas of database {ref} are not ready",
            now=now,
            generation=gen,
            severity="Warning",
        ),
        condition(
            "AcceptingConnection",
            accepting,
            "DatabaseAcceptingConnectionRequest"
            if accepting
            else "DatabaseNotAcceptingConnectionRequest",
            f"database {ref} is accepting connection request"
            if accepting
            else f"database {ref} is not accepting connection request",
            now=now,
            generation=gen,
            severity="Error",
        ),
        condition(
            "Ready",
            ready,
            "ReadinessCheckSucceeded" if ready else "ReadinessCheckFailed",
            f"database {ref} is ready" if ready else f"database {ref} is not ready",
            now=now,
            generation=gen,
            severity="Error",
        ),
        condition(
            "Provisioned",
            True,
            "DatabaseSuccessfullyProvisioned",
            f"The KubeDB operator has successfully provisioned {db['kind']}: {ref}",
            now=now,
            generation=gen,
        ),
    ]


def with_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the condition of the same type (keeping its transition time if unchanged)."""
    result = []
    for existing in conditions:
        if existing.get("type") == new["type"]:
            if existing.get("status") == new["status"]:
                new = {**new, "lastTransitionTime": existing.get("lastTransitionTime")}
            continue
        result.append(existing)
    result.append(new)
    return result


def without_condition(conditions: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [cond for cond in conditions if cond.get("type") != kind]
