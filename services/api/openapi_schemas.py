"""JSON Schemas (OpenAPI 3.1 = JSON Schema 2020-12) of every body the API reads or writes.

Hand-maintained next to `representations.py`; a test validates real responses against
these, so a field added there without being added here fails the build. Response objects
are closed (`additionalProperties: false`) precisely so that this test can catch drift.
"""

from __future__ import annotations

from typing import Any

from services.api import problems
from services.api.openapi_backup_policy import BACKUP_POLICY, BACKUP_POLICY_FIELD
from services.domain import engines, naming, quotas, specs
from services.domain.backups import BackupOrigin, BackupState
from services.domain.engines import Engine

Schema = dict[str, Any]

ENGINES = [engine.value for engine in Engine]
DATABASE_STATES = ["creating", "ready", "updating", "degraded", "deleting", "deleted", "failed"]
OPERATION_STATES = ["pending", "running", "waiting", "succeeded", "failed", "cancelled"]
OPERATION_TYPES = [
    "create",
    "scale",
    "resize",
    "expand",
    "upgrade",
    "configure",
    "restart",
    "delete",
    "backup",
    "restore",
    "backup_policy",
]
BACKUP_STATES = [state.value for state in BackupState]
BACKUP_ORIGINS = [origin.value for origin in BackupOrigin]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(type_name: str, **extra: Any) -> Schema:
    return {"type": [type_name, "null"], **extra}


def closed(properties: dict[str, Schema], *, required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


TIME_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}
KEY: dict[str, Schema] = {
    "id": {"type": "string", "format": "uuid"},
    "name": {"type": "string"},
    "prefix": {"type": "string"},
    "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
    "state": {"type": "string", "enum": ["active", "revoked"]},
    "created_at": {"type": "string", "format": "date-time"},
    "expires_at": TIME_OR_NULL,
    "last_used_at": TIME_OR_NULL,
    "revoked_at": TIME_OR_NULL,
}


TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = nullable("string", format="date-time")
UUID: Schema = {"type": "string", "format": "uuid"}
# Kubernetes' quantity grammar (services.domain.quantities) without the minus sign, and with
# at most 9 exponent digits so that every match fits the parser's 32-bit exponent.
QUANTITY_PATTERN = (
    r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)"  # number
    r"([KMGTPE]i|[eE][+-]?[0-9]{1,9}|[numkMGTPE])?$"  # binary, exponent or decimal suffix
)
QUANTITY: Schema = {
    "type": "string",
    "pattern": QUANTITY_PATTERN,
    "description": "Kubernetes quantity; the bounds depend on the field",
    "examples": ["10Gi"],
}
NAME: Schema = {
    "type": "string",
    "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$",
    "maxLength": naming.MAX_NAME_LENGTH,
    "description": (
        f"DNS-1123 label starting with a letter, at most {naming.MAX_NAME_LENGTH} characters"
    ),
    "examples": ["orders"],
}
MAX_REPLICAS = max(spec.max_replicas for spec in engines.ENGINES.values())
REPLICAS: Schema = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_REPLICAS,
    "description": (
        "1 (standalone) or the engine's replicated range (see /v1/engines); a JSON integer "
        "written without a fraction (3, not 3.0)"
    ),
}

RESOURCES: Schema = closed(
    {
        "cpu": nullable(
            "string",
            pattern=QUANTITY_PATTERN,
            description="Kubernetes quantity, 100m..64",
            examples=["500m"],
        ),
        "memory": nullable(
            "string", pattern=QUANTITY_PATTERN, description="Kubernetes quantity, 128Mi..512Gi"
        ),
    },
    required=[],
)


def _database_properties() -> dict[str, Schema]:
    return {
        "id": UUID,
        "name": {"type": "string"},
        "engine": {"type": "string", "enum": ENGINES},
        "version": {"type": "string", "description": "catalog entry (metadata.name)"},
        "replicas": {"type": "integer", "minimum": 1},
        "storage": QUANTITY,
        "resources": {**RESOURCES, "required": ["cpu", "memory"]},
        "deletion_policy": {"type": "string", "enum": list(specs.DELETION_POLICIES)},
        "drift_policy": {"type": "string", "enum": list(specs.DRIFT_POLICIES)},
        "backup": BACKUP_POLICY_FIELD,
        "generation": {
            "type": "integer",
            "description": "increases with every accepted change of the desired spec",
        },
        "state": {"type": "string", "enum": DATABASE_STATES},
        "status": ref("DatabaseStatus"),
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "links": closed(
            {
                "self": {"type": "string"},
                "operations": {"type": "string"},
                "events": {"type": "string"},
                "credentials": {"type": "string"},
                "backups": {"type": "string"},
            }
        ),
    }


OPERATION: Schema = closed(
    {
        "id": UUID,
        "database_id": UUID,
        "type": {"type": "string", "enum": OPERATION_TYPES},
        "state": {"type": "string", "enum": OPERATION_STATES},
        "origin": {"type": "string", "enum": ["api", "drift"]},
        "params": ref("OperationParams"),
        "error": {
            "oneOf": [{"type": "null"}, ref("OperationError")],
            "description": "why it failed or was cancelled",
        },
        "attempt": {"type": "integer", "minimum": 0},
        "generation": {"type": "integer"},
        "requested_by": nullable("string"),
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "started_at": NULLABLE_TIMESTAMP,
        "finished_at": NULLABLE_TIMESTAMP,
        "links": closed({"self": {"type": "string"}, "database": {"type": "string"}}),
    }
)


BACKUP: dict[str, Schema] = {
    "id": {"type": "string", "format": "uuid"},
    "database_id": {"type": "string", "format": "uuid"},
    "operation_id": {
        "type": ["string", "null"],
        "format": "uuid",
        "description": "the `backup` operation of a manual backup; null for a scheduled one",
    },
    "origin": {"type": "string", "enum": [origin.value for origin in BackupOrigin]},
    "state": {"type": "string", "enum": [state.value for state in BackupState]},
    "started_at": TIME_OR_NULL,
    "completed_at": TIME_OR_NULL,
    "size_bytes": {"type": ["integer", "null"], "minimum": 0},
    "snapshot": {"type": ["string", "null"], "description": "the KubeStash Snapshot's name"},
    "error": {"type": ["string", "null"], "description": "KubeStash's reason of a failure"},
    "created_at": {"type": "string", "format": "date-time"},
    "expires_at": {
        **TIME_OR_NULL,
        "description": "when the Snapshot of a deleted database's backup is deleted (the "
        "deletion plus the server's DBAAS_DELETED_BACKUP_RETENTION); null: kept (the database "
        "lives, or no retention is set and the platform team removes it)",
    },
    "links": closed({"self": {"type": "string"}, "database": {"type": "string"}}),
}


BACKUP_PARAMETERS: dict[str, Schema] = {
    "BackupState": {
        "name": "state",
        "in": "query",
        "schema": {"type": "string", "enum": BACKUP_STATES},
    },
    "BackupOrigin": {
        "name": "origin",
        "in": "query",
        "schema": {"type": "string", "enum": BACKUP_ORIGINS},
    },
    "BackupDatabaseFilter": {
        "name": "database_id",
        "in": "query",
        "description": "only the backups of this database (a deleted one's too)",
        "schema": {"type": "string", "format": "uuid"},
    },
}
"""Query parameters of the backup lists (openapi.py's `PARAMETERS` takes them in)."""


RESTORE_SOURCE: Schema = {
    "description": "Make the new database from a backup (any engine) or from a point in time "
    "of a database with point-in-time recovery (Postgres, MySQL, MongoDB). The source is in "
    "the same project, of the same engine, at the same major version and not newer than the "
    "new database's; a backup must have succeeded and its Snapshot still exist; the time "
    "must lie within the source's `status.restorable_window`. The database is `ready` once "
    "KubeStash restored it; a failed restore leaves it `failed` with KubeStash's reason.",
    "oneOf": [
        closed({"backup_id": UUID}),
        closed(
            {
                "database_id": UUID,
                "point_in_time": {
                    "type": "string",
                    "format": "date-time",
                    "examples": ["2026-12-08T01:02:03Z"],
                },
            }
        ),
    ],
}


RESTORABLE_WINDOW: Schema = {
    "oneOf": [
        {"type": "null"},
        closed({"earliest": TIMESTAMP, "latest": TIMESTAMP}),
    ],
    "description": "GET of one database only: the times a point-in-time restore of it may "
    "target (`restore.point_in_time`), from its archive's oldest full backup to the newest "
    "shipped log; null when it is not archived (Redis never is) or nothing is archived yet",
}


def page_of(item: str) -> Schema:
    return closed(
        {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": nullable("string", description="pass as `cursor`; null at the end"),
        }
    )


CHECK: Schema = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "failed", "unsupervised"]},
        "detail": {"type": "string"},
        "programs": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["status"],
    "additionalProperties": False,
}
CHECKS: Schema = closed({"postgres": CHECK, "schema": CHECK, "redis": CHECK, "programs": CHECK})

KNOWN_PROBLEM_TYPES = [problems.TYPE_BASE + slug for slug in problems.TYPES]
PROBLEM: Schema = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {
            # Open: a client must accept types added later (an enum would break it), and
            # branch on the ones it knows. Every type answered today is listed in `examples`.
            "type": "string",
            "format": "uri",
            "description": "stable URI naming the kind of problem; new kinds may be added. "
            "Known: " + ", ".join(f"`{slug}`" for slug in problems.TYPES),
            "examples": KNOWN_PROBLEM_TYPES,
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": ref("FieldError")},
    },
    "required": ["type", "title", "status", "detail", "instance"],
    "additionalProperties": True,
}


def schemas() -> dict[str, Schema]:
    database = _database_properties()
    return {
        "DatabaseCreate": {
            "type": "object",
            "properties": {
                "name": NAME,
                "engine": {"type": "string", "enum": ENGINES},
                "version": {"type": "string", "examples": ["16.13"]},
                "replicas": {**REPLICAS, "default": 1},
                "storage": QUANTITY,
                "resources": RESOURCES,
                "deletion_policy": {
                    "type": "string",
                    "enum": list(specs.DELETION_POLICIES),
                    "default": specs.DEFAULT_DELETION_POLICY,
                },
                "drift_policy": {
                    "type": "string",
                    "enum": list(specs.DRIFT_POLICIES),
                    "default": specs.DEFAULT_DRIFT_POLICY,
                },
                "restore": {"oneOf": [{"type": "null"}, ref("RestoreSource")]},
                "backup": {**BACKUP_POLICY_FIELD, "default": None},
            },
            "required": ["name", "engine", "version", "storage"],
            "additionalProperties": False,
        },
        "DatabasePatch": {
            "type": "object",
            "description": "JSON merge patch of the desired spec; absent fields stay as they are",
            "properties": {
                "version": {"type": "string"},
                "replicas": REPLICAS,
                "storage": {**QUANTITY, "description": "may only grow"},
                "resources": RESOURCES,
                "deletion_policy": {"type": "string", "enum": list(specs.DELETION_POLICIES)},
                "drift_policy": {"type": "string", "enum": list(specs.DRIFT_POLICIES)},
                "backup": BACKUP_POLICY_FIELD,
                "name": {**NAME, "description": "immutable: only its current value"},
                "engine": {
                    "type": "string",
                    "enum": ENGINES,
                    "description": "immutable: only its current value",
                },
            },
            "additionalProperties": False,
        },
        "Database": closed(
            database | {"restorable_window": RESTORABLE_WINDOW}, required=list(database)
        ),
        "BackupPolicy": BACKUP_POLICY,
        "DatabaseAccepted": closed(
            database
            | {
                "operations": {
                    "type": "array",
                    "items": ref("Operation"),
                    "description": "operations queued by this request, in order",
                }
            }
        ),
        "DatabaseList": page_of("Database"),
        "Operation": OPERATION,
        "DatabaseStatus": closed(
            {
                "phase": nullable(
                    "string", description="KubeDB's phase", examples=["Provisioning", "Ready"]
                ),
                "observed_generation": nullable(
                    "integer", description="the generation the cluster has caught up with"
                ),
                "observed": {
                    "oneOf": [{"type": "null"}, ref("ObservedSpec")],
                    "description": "the spec as seen in the cluster (null until first seen)",
                },
                "endpoint": nullable("string", examples=["orders.dbaas-default.svc:5432"]),
                "conditions": {"type": "array", "items": ref("Condition")},
                "message": nullable("string", description="what a person should read"),
                "synced_at": NULLABLE_TIMESTAMP,
            }
        ),
        "ObservedSpec": closed(
            {
                "version": nullable("string"),
                "replicas": nullable("integer"),
                "storage": nullable("string"),
                "cpu": nullable("string"),
                "memory": nullable("string"),
                "deletion_policy": nullable("string"),
                "topology": nullable(
                    "string",
                    description="standalone, replicated, or the resource's own word "
                    "for a shape dbaas does not create",
                ),
            }
        ),
        "Condition": {
            "type": "object",
            "description": "a condition of the KubeDB resource, as KubeDB states it",
            "properties": {
                "type": {"type": "string", "examples": ["Ready", "Provisioned"]},
                "status": {"type": "string", "examples": ["True", "False", "Unknown"]},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "severity": {"type": "string"},
                "observedGeneration": {"type": "integer"},
                "lastTransitionTime": {"type": "string"},
            },
            "required": ["type", "status"],
            "additionalProperties": False,
        },
        "RestoreSource": RESTORE_SOURCE,
        "OperationParams": {
            "type": "object",
            "description": "the target values of the change (a create: the whole spec)",
            "properties": {
                "restore": {
                    "type": "object",
                    "description": "a restore's source: source_database_id, source_name, "
                    "source_engine, and backup_id + snapshot or point_in_time",
                },
                "version": {"type": "string"},
                "replicas": {"type": "integer"},
                "storage": {"type": "string"},
                "cpu": nullable("string"),
                "memory": nullable("string"),
                "deletion_policy": {"type": "string"},
                "drift_policy": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "OperationError": {
            "type": "object",
            "description": "why an operation failed or was cancelled",
            "properties": {
                "type": {
                    "type": "string",
                    "description": "open set of slugs",
                    "examples": [
                        "kubedb-ops-failed",
                        "operation-timed-out",
                        "kubernetes-unavailable",
                    ],
                },
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "kubernetes": {
                    "type": "object",
                    "description": "what the Kubernetes API answered",
                    "properties": {
                        "status": nullable("integer"),
                        "reason": nullable("string"),
                        "causes": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "kubedb": {
                    "type": "object",
                    "description": "what the OpsRequest said",
                    "properties": {
                        "phase": nullable("string"),
                        "reason": nullable("string"),
                        "message": nullable("string"),
                    },
                },
                "timeout_seconds": {"type": "number"},
            },
            "required": ["detail"],
            "additionalProperties": True,
        },
        "OperationList": page_of("Operation"),
        "Event": closed(
            {
                "id": {"type": "integer"},
                "database_id": nullable("string", format="uuid"),
                "operation_id": nullable("string", format="uuid"),
                "actor": {"type": "string", "examples": ["key:6f1c...", "worker", "drift"]},
                "kind": {"type": "string", "examples": ["database.create-requested"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "created_at": TIMESTAMP,
            }
        ),
        "EventList": page_of("Event"),
        "Credentials": closed(
            {
                "database_id": UUID,
                "username": {"type": "string"},
                "password": {"type": "string"},
                "endpoint": nullable("string"),
                "port": {"type": "integer"},
            }
        ),
        "Engine": closed(
            {
                "name": {"type": "string", "enum": ENGINES},
                "kind": {"type": "string", "description": "KubeDB kind"},
                "port": {"type": "integer"},
                "replicas": closed(
                    {
                        "standalone": {"type": "integer"},
                        "replicated": closed(
                            {
                                "minimum": {"type": "integer"},
                                "maximum": {"type": "integer"},
                                "topology": {"type": "string"},
                            }
                        ),
                    }
                ),
                "versions": {"type": "array", "items": ref("EngineVersion")},
            }
        ),
        "EngineVersion": closed(
            {
                "name": {"type": "string", "description": "what `version` takes"},
                "version": {"type": "string", "description": "the engine's own version"},
                "distribution": nullable("string"),
                "end_of_life": {"type": "boolean"},
            }
        ),
        "Backup": closed(BACKUP),
        "BackupAccepted": closed(BACKUP | {"operation": ref("Operation")}),
        "BackupList": page_of("Backup"),
        "EngineList": closed({"items": {"type": "array", "items": ref("Engine")}}),
        "KeyCreate": closed(
            {
                "name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100,
                    "description": "no control characters",
                    # `not` + an unanchored search: an anchored `$` also matches before a
                    # final newline in Python's regex, which then generates names we refuse.
                    "not": {"pattern": "[\\u0000-\\u001f\\u007f-\\u009f]"},
                },
                "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
            },
            required=["name", "role"],
        ),
        "Key": closed(KEY),
        "KeyList": closed({"items": {"type": "array", "items": ref("Key")}}),
        "KeyCreated": closed(KEY | {"key": {"type": "string"}}),
        "KeyRevoked": closed(
            KEY
            | {
                "revocation": closed(
                    {"processes": {"type": "integer"}, "confirmed": {"type": "integer"}}
                )
            }
        ),
        "Quota": closed(
            {
                "project": {"type": "string"},
                "quotas": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "limit": {"type": ["integer", "string", "null"]},
                            "used": {"type": ["integer", "string"]},
                            "per": {"type": "string"},
                        },
                    },
                },
            }
        ),
        "QuotaOverrides": {
            **closed(
                {
                    name: {
                        "type": ["string", "null"],
                        "examples": ["2Ti" if name == "storage" else "64"],
                    }
                    if name in quotas.AMOUNTS
                    else {"type": ["integer", "null"], "minimum": 0, "maximum": quotas.COUNT_MAX}
                    for name in quotas.FIELDS
                },
                required=[],
            ),
            "minProperties": 1,
            "description": "0: no limit; null: back to the server's default",
        },
        "Whoami": closed(
            {
                "project": {"type": "string", "examples": ["default"]},
                "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
                "key_id": UUID,
            }
        ),
        "Health": closed({"status": {"type": "string", "enum": ["ok"]}}),
        "Readiness": closed({"status": {"type": "string", "enum": ["ready"]}, "checks": CHECKS}),
        "FieldError": closed(
            {
                "field": {"type": "string", "description": "dotted path; empty for the body"},
                "code": {"type": "string", "examples": ["invalid_name", "out_of_range"]},
                "message": {"type": "string"},
            }
        ),
        "Problem": PROBLEM,
        "ValidationProblem": {
            "allOf": [ref("Problem")],
            "required": ["errors"],
            "description": "422 validation-failed (or 400 invalid-query): every field problem",
        },
        "UnprocessableProblem": {
            "oneOf": [
                ref("ValidationProblem"),
                {
                    "allOf": [ref("Problem")],
                    "properties": {
                        "type": {"const": problems.TYPE_BASE + "idempotency-key-reused"}
                    },
                },
            ],
            "description": "422: validation-failed listing every field problem, or "
            "idempotency-key-reused",
        },
        "NotReadyProblem": {
            "allOf": [ref("Problem")],
            "properties": {"checks": CHECKS},
            "required": ["checks"],
        },
    }
