"""The OpenAPI schema of a database's `backup` field (the scheduled-backup policy).

Its own module: the rules come from `domain.backups` (bounds, defaults, cron macros), so
the document cannot drift from the validation, and openapi_schemas.py stays small.
"""

from __future__ import annotations

from typing import Any

from services.domain import backups

Schema = dict[str, Any]


def _nullable(type_name: str, **extra: Any) -> Schema:
    return {"type": [type_name, "null"], **extra}


BACKUP_POLICY_TEXT = (
    "Scheduled backups through KubeStash, or null for none (on-demand backups work either "
    "way). A PATCH merges an object into the current policy (a null member restores its "
    "default; inside retention a null means no limit on that axis) and null pauses the "
    "schedule: the BackupConfiguration is suspended, not deleted, so its Repository and "
    "every snapshot stay restorable. Carried out by a `backup_policy` operation. Deleting "
    "the database keeps its snapshots (deletionPolicy Retain on the Repository): its "
    "backups stay listable with GET /v1/backups?database_id= until their `expires_at` (set "
    "when the server has DBAAS_DELETED_BACKUP_RETENTION; null: kept)."
)
BACKUP_POLICY: Schema = {
    "type": "object",
    "properties": {
        "schedule": {
            "type": "string",
            "description": "5-field cron (minute hour day-of-month month day-of-week) or "
            + ", ".join(backups.CRON_MACROS),
            "examples": ["0 2 * * *", "@daily"],
        },
        "retention": {
            "type": "object",
            "properties": {
                "keep_last": _nullable(
                    "integer",
                    minimum=backups.KEEP_LAST_MIN,
                    maximum=backups.KEEP_LAST_MAX,
                    default=backups.DEFAULT_KEEP_LAST,
                    description="successful snapshots kept; null: no count limit",
                ),
                "max_age": _nullable(
                    "string",
                    pattern="^[1-9][0-9]{0,5}(h|d|w|mo|y)$",
                    default=backups.DEFAULT_MAX_AGE,
                    description="1h..10y; null: no age limit (not both null)",
                ),
            },
            "additionalProperties": False,
        },
        "pitr": {
            "type": "boolean",
            "default": False,
            "description": "point-in-time recovery through KubeDB's archiver; not for redis",
        },
    },
    "required": ["schedule"],
    "additionalProperties": False,
}
BACKUP_POLICY_FIELD: Schema = {
    "oneOf": [{"$ref": "#/components/schemas/BackupPolicy"}, {"type": "null"}],
    "description": BACKUP_POLICY_TEXT,
}
