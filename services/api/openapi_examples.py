"""One example of every body the API reads or answers, shown in /openapi.json and /docs.

Examples are values a real request could send or a real answer could carry; a unit test
validates each against its schema, so they cannot drift from the contract.
"""

from __future__ import annotations

from typing import Any

from services.api import problems

DATABASE_ID = "6f1c2a4e-8b7d-4c3a-9e21-0d5b7f3a9c10"
OPERATION_ID = "0b9e4d7c-3f21-4a8e-b6d5-1c2e3f4a5b6c"
CREATED = "2026-11-26T10:00:00Z"
SYNCED = "2026-11-26T10:00:03Z"
PATH = f"/v1/databases/{DATABASE_ID}"

DATABASE: dict[str, Any] = {
    "id": DATABASE_ID,
    "name": "orders",
    "engine": "postgres",
    "version": "16.13",
    "replicas": 1,
    "storage": "10Gi",
    "resources": {"cpu": None, "memory": None},
    "deletion_policy": "Delete",
    "drift_policy": "correct",
    "backup": {
        "schedule": "0 2 * * *",
        "retention": {"keep_last": 7, "max_age": "30d"},
        "pitr": False,
    },
    "generation": 1,
    "state": "ready",
    "status": {
        "phase": "Ready",
        "observed_generation": 1,
        "observed": {
            "version": "16.13",
            "replicas": 1,
            "storage": "10Gi",
            "cpu": None,
            "memory": None,
            "deletion_policy": "Delete",
            "topology": "standalone",
        },
        "endpoint": "orders.dbaas-default.svc:5432",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllReplicasReady",
                "message": "database dbaas-default/orders is ready",
                "observedGeneration": 1,
                "lastTransitionTime": SYNCED,
            }
        ],
        "message": "database dbaas-default/orders is ready",
        "synced_at": SYNCED,
    },
    "created_at": CREATED,
    "updated_at": SYNCED,
    "links": {
        "self": PATH,
        "operations": PATH + "/operations",
        "events": PATH + "/events",
        "credentials": PATH + "/credentials",
        "backups": PATH + "/backups",
    },
}

OPERATION: dict[str, Any] = {
    "id": OPERATION_ID,
    "database_id": DATABASE_ID,
    "type": "scale",
    "state": "pending",
    "origin": "api",
    "params": {"replicas": 3},
    "error": None,
    "attempt": 0,
    "generation": 2,
    "requested_by": "key:6f1c2a4e",
    "created_at": SYNCED,
    "updated_at": SYNCED,
    "started_at": None,
    "finished_at": None,
    "links": {"self": f"/v1/operations/{OPERATION_ID}", "database": PATH},
}

ACCEPTED: dict[str, Any] = DATABASE | {
    "replicas": 3,
    "generation": 2,
    "state": "updating",
    "operations": [OPERATION],
}

EVENT: dict[str, Any] = {
    "id": 42,
    "database_id": DATABASE_ID,
    "operation_id": OPERATION_ID,
    "actor": "key:6f1c2a4e",
    "kind": "database.update-requested",
    "message": "scale orders to 3 replicas",
    "details": {"replicas": 3},
    "created_at": SYNCED,
}

BODIES: dict[str, Any] = {
    "Database": DATABASE,
    "DatabaseAccepted": ACCEPTED,
    "DatabaseList": {"items": [DATABASE], "next_cursor": None},
    "Operation": OPERATION,
    "OperationList": {"items": [OPERATION], "next_cursor": None},
    "EventList": {"items": [EVENT], "next_cursor": None},
    "Credentials": {
        "database_id": DATABASE_ID,
        "username": "postgres",
        "password": "s3cr3t-from-the-auth-secret",
        "endpoint": "orders.dbaas-default.svc:5432",
        "port": 5432,
    },
    "EngineList": {
        "items": [
            {
                "name": "postgres",
                "kind": "Postgres",
                "port": 5432,
                "replicas": {
                    "standalone": 1,
                    "replicated": {
                        "minimum": 2,
                        "maximum": 9,
                        "topology": "streaming-replication cluster",
                    },
                },
                "versions": [
                    {
                        "name": "16.13",
                        "version": "16.13",
                        "distribution": "Official",
                        "end_of_life": False,
                    }
                ],
            }
        ]
    },
    "Health": {"status": "ok"},
    "Readiness": {
        "status": "ready",
        "checks": {
            "postgres": {"status": "ok"},
            "schema": {"status": "ok"},
            "redis": {"status": "ok"},
            "programs": {"status": "ok", "programs": {"worker": "RUNNING"}},
        },
    },
    "DatabaseCreate": {
        "name": "orders",
        "engine": "postgres",
        "version": "16.13",
        "storage": "10Gi",
        "replicas": 1,
        "backup": {"schedule": "0 2 * * *", "retention": {"keep_last": 7}},
    },
    "DatabasePatch": {"replicas": 3, "backup": {"schedule": "@daily", "pitr": True}},
}


def problem(status: int) -> dict[str, Any]:
    """A problem the API answers with this status (the first type of that status)."""
    slug, (_, title) = next(
        ((slug, known) for slug, known in problems.TYPES.items() if known[0] == status),
        ("internal-error", (status, "Error")),
    )
    example: dict[str, Any] = {
        "type": problems.TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": DETAILS.get(status, title),
        "instance": PATH,
    }
    if status in (400, 422):
        example["errors"] = [
            {
                "field": "replicas",
                "code": "out_of_range",
                "message": "replicas must be 1 or 2..9 for postgres",
            }
        ]
    return example


DETAILS = {
    401: "missing Authorization: Bearer <key>",
    403: "role viewer may not do this; operator needed",
    404: f"database {DATABASE_ID} not found",
    409: "a database named 'orders' already exists in this project",
    412: 'If-Match "6f1c2a4e-1" does not match the current ETag "6f1c2a4e-2"',
    422: "1 field is invalid",
    503: "PostgreSQL is unavailable; retry shortly",
}


NOT_READY: dict[str, Any] = {
    "type": problems.TYPE_BASE + "not-ready",
    "title": "Not ready",
    "status": 503,
    "detail": "redis: connection refused",
    "instance": "/readyz",
    "checks": {
        "postgres": {"status": "ok"},
        "schema": {"status": "ok"},
        "redis": {"status": "failed", "detail": "connection refused"},
        "programs": {"status": "unsupervised"},
    },
}


def synthesized(schema: Any, schemas: dict[str, Any]) -> Any:
    """An example built from a schema that has no hand-written one (its `examples`, default,
    const or first enum value; every property of an object): so a new endpoint shows an
    example from its first day. The unit test validates these like the others."""
    if "$ref" in schema:
        return synthesized(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return synthesized(options[0], schemas)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged |= synthesized(part, schemas)
        return merged
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: synthesized(sub, schemas) for name, sub in properties.items()}
    if kind == "array":
        return [synthesized(schema["items"], schemas)] if "items" in schema else []
    if kind == "string":
        formats = {"date-time": CREATED, "uuid": DATABASE_ID, "uri": PROBLEM_URI}
        return formats.get(schema.get("format", ""), "string")
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return None


PROBLEM_URI = problems.TYPE_BASE + "not-found"
