"""The OpenAPI document's shared parameters: path ids, paging, filters and request headers."""

from __future__ import annotations

from typing import Any

from services.api import openapi_schemas, query_params

Doc = dict[str, Any]


def param(name: str) -> Doc:
    """A reference to one of `PARAMETERS`."""
    return {"$ref": f"#/components/parameters/{name}"}


PARAMETERS: Doc = {
    "Id": {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    },
    "Project": {
        "name": "project",
        "in": "path",
        "required": True,
        "description": "a project id: 1-40 lowercase letters, digits or '-'",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 40,
            "pattern": "^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$",
        },
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "description": f"page size, 1..{query_params.MAX_LIMIT}",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": query_params.MAX_LIMIT,
            "default": query_params.DEFAULT_LIMIT,
        },
    },
    "Cursor": {
        "name": "cursor",
        "in": "query",
        "description": "opaque; the `next_cursor` of the previous page (any other: 400)",
        "schema": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"},
    },
    "Engine": {
        "name": "engine",
        "in": "query",
        "schema": {"type": "string", "enum": openapi_schemas.ENGINES},
    },
    "DatabaseState": {
        "name": "state",
        "in": "query",
        "description": "deleted databases are listed only when asked for with state=deleted",
        "schema": {"type": "string", "enum": openapi_schemas.DATABASE_STATES},
    },
    "Name": {"name": "name", "in": "query", "schema": {"type": "string", "minLength": 1}},
    "OperationState": {
        "name": "state",
        "in": "query",
        "schema": {"type": "string", "enum": openapi_schemas.OPERATION_STATES},
    },
    "DatabaseFilter": {
        "name": "database",
        "in": "query",
        "description": "only the operations of this database",
        "schema": {"type": "string", "format": "uuid"},
    },
    **openapi_schemas.BACKUP_PARAMETERS,
    "IfMatch": {
        "name": "If-Match",
        "in": "header",
        "description": "apply only if the database's ETag is one of these (412 otherwise); "
        'ETags are quoted: send the ETag header as given, quotes included ("6f1c2a4e-2")',
        "schema": {"type": "string", "minLength": 1},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "description": (
            "retry safely: the first 2xx answer is stored and replayed for the same request "
            "(header Idempotent-Replayed: true); the same key with another request is a 422"
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    },
}
