"""The OpenAPI 3.1 document of the API, maintained by hand next to the routes it describes.

Hand-written rather than generated so the contract is reviewed as a contract. Tests hold it
to the implementation: every route of `app.routes()` is here and nothing else, the document
is valid OpenAPI 3.1, and real responses validate against its schemas.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from services.api import auth, openapi_examples, openapi_schemas, problems, query_params
from services.api.openapi_schemas import ref

Doc = dict[str, Any]

JSON = "application/json"
PROBLEM_JSON = problems.MEDIA_TYPE

ERRORS: dict[int, tuple[str, str]] = {
    400: ("Malformed request: JSON body, query parameter, cursor or header", "Problem"),
    401: ("Missing, unknown or revoked API key", "Problem"),
    403: ("The key's role is too low (viewer reads; operator writes), or a quota", "Problem"),
    404: ("No such resource in the key's project", "Problem"),
    409: ("Conflicts with the resource's state (name taken, deleting, protected)", "Problem"),
    412: ("If-Match does not match the current ETag", "Problem"),
    413: ("The body is larger than the configured limit", "Problem"),
    415: ("The body is not application/json", "Problem"),
    422: ("Validation failed (every field problem listed) or Idempotency-Key reuse", "Problem"),
    503: ("PostgreSQL, Redis or the cluster is unavailable; see Retry-After", "Problem"),
}


def _header(description: str, schema: dict[str, Any] | None = None) -> Doc:
    return {"description": description, "schema": schema or {"type": "string"}}


HEADERS: Doc = {
    "ETag": _header("version of the desired spec; send it back in If-Match"),
    "Location": _header("where to follow up: the new database, or the last queued operation"),
    "IdempotentReplayed": _header("`true` when this is the stored answer of an earlier request"),
    "RetryAfter": _header("seconds to wait before retrying", {"type": "integer"}),
    "WWWAuthenticate": _header("`Bearer` challenge"),
    "Allow": _header("methods allowed on the path"),
}


def _error(status: int, *, schema: str | None = None) -> Doc:
    description, default_schema = ERRORS[status]
    media: Doc = {"schema": ref(schema or default_schema)}
    media["examples"] = {"problem": {"value": openapi_examples.problem(status)}}
    answer: Doc = {"description": description, "content": {PROBLEM_JSON: media}}
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}}
    if status == 503:
        answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return answer


def _media(schema: str) -> Doc:
    """A JSON media type of `schema`, with its example."""
    if schema in openapi_examples.BODIES:
        # A copy each: the examples share parts, and a tool may edit what it was given.
        example = copy.deepcopy(openapi_examples.BODIES[schema])
    else:
        example = openapi_examples.synthesized(ref(schema), _schemas())
    return {"schema": ref(schema), "examples": {schema: {"value": example}}}


@functools.cache
def _schemas() -> Doc:
    return openapi_schemas.schemas()


def _ok(description: str, schema: str, *, headers: tuple[str, ...] = ()) -> Doc:
    answer: Doc = {"description": description, "content": {JSON: _media(schema)}}
    if headers:
        answer["headers"] = {
            name: {"$ref": f"#/components/headers/{name.replace('-', '')}"} for name in headers
        }
    return answer


def _operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    success: tuple[int, Doc],
    errors: tuple[int, ...],
    description: str = "",
    parameters: list[Doc] | None = None,
    body: tuple[str, tuple[str, ...]] | None = None,
    public: bool = False,
) -> Doc:
    status, answer = success
    responses: Doc = {str(status): answer}
    for code in errors:
        responses[str(code)] = _error(code)
    if 422 in errors and body is not None:
        # A keyed create may also be refused for reusing its Idempotency-Key (no `errors`).
        keyed = _param("IdempotencyKey") in (parameters or [])
        responses["422"] = _error(
            422, schema="UnprocessableProblem" if keyed else "ValidationProblem"
        )
    if 400 in errors and any(p.get("in") == "query" for p in parameters or []):
        responses["400"] = _error(400, schema="ValidationProblem")
    doc: Doc = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if description:
        doc["description"] = description
    if parameters:
        doc["parameters"] = parameters
    if body is not None:
        schema, media_types = body
        doc["requestBody"] = {
            "required": True,
            "content": {media: _media(schema) for media in media_types},
        }
    if public:
        doc["security"] = []
    return doc


def _param(name: str) -> Doc:
    return {"$ref": f"#/components/parameters/{name}"}


PARAMETERS: Doc = {
    "Id": {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
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
    "IfMatch": {
        "name": "If-Match",
        "in": "header",
        "description": "apply only if the database's ETag is one of these (412 otherwise)",
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

ACCEPTED_HEADERS = ("ETag", "Location", "Idempotent-Replayed")
DB = "databases"
OPS = "operations"
SYS = "system"


def _paths() -> Doc:
    accepted = _ok(
        "Accepted: the desired spec is recorded and its operations queued",
        "DatabaseAccepted",
        headers=ACCEPTED_HEADERS,
    )
    page = [_param("Limit"), _param("Cursor")]
    return {
        "/healthz": {
            "get": _operation(
                "healthz",
                "Liveness: the process serves requests (no I/O)",
                tag=SYS,
                success=(200, _ok("Alive", "Health")),
                errors=(),
                public=True,
            )
        },
        "/readyz": {
            "get": {
                **_operation(
                    "readyz",
                    "Readiness: PostgreSQL, Redis and every supervised program are up",
                    tag=SYS,
                    success=(200, _ok("Ready", "Readiness")),
                    errors=(),
                    public=True,
                ),
                "responses": {
                    "200": _ok("Ready", "Readiness"),
                    "503": {
                        "description": "Not ready; `checks` says what fails",
                        "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                        "content": {
                            PROBLEM_JSON: {
                                "schema": ref("NotReadyProblem"),
                                "examples": {"not-ready": {"value": openapi_examples.NOT_READY}},
                            }
                        },
                    },
                },
            }
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "Prometheus metrics (text exposition format)",
                tag=SYS,
                success=(
                    200,
                    {
                        "description": "Metrics of every API worker process",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                ),
                errors=(),
                public=True,
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This document",
                tag=SYS,
                success=(
                    200,
                    {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                ),
                errors=(),
                public=True,
            )
        },
        "/docs": {
            "get": _operation(
                "docs",
                "Human-readable documentation of this API (HTML)",
                tag=SYS,
                success=(
                    200,
                    {
                        "description": "HTML page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                ),
                errors=(),
                public=True,
            )
        },
        "/v1/databases": {
            "get": _operation(
                "listDatabases",
                "List the project's databases, oldest first",
                tag=DB,
                parameters=[*page, _param("Engine"), _param("DatabaseState"), _param("Name")],
                success=(200, _ok("A page of databases", "DatabaseList")),
                errors=(400, 401, 503),
            ),
            "post": _operation(
                "createDatabase",
                "Ask for a new database",
                tag=DB,
                description="Requires role operator. Names are unique per project (409).",
                parameters=[_param("IdempotencyKey")],
                body=("DatabaseCreate", (JSON,)),
                success=(202, accepted),
                errors=(400, 401, 403, 409, 413, 415, 422, 503),
            ),
        },
        "/v1/databases/{id}": {
            "parameters": [_param("Id")],
            "get": _operation(
                "getDatabase",
                "One database: desired spec and observed status",
                tag=DB,
                description="A deleted database is gone (404); its operations stay readable.",
                success=(200, _ok("The database", "Database", headers=("ETag",))),
                errors=(401, 404, 503),
            ),
            "patch": _operation(
                "updateDatabase",
                "Change the desired spec (JSON merge patch)",
                tag=DB,
                description=(
                    "Requires role operator. Queues one operation per kind of change "
                    "(expand, resize, scale, upgrade, configure)."
                ),
                parameters=[_param("IfMatch")],
                body=("DatabasePatch", (JSON, "application/merge-patch+json")),
                success=(202, accepted),
                errors=(400, 401, 403, 404, 409, 412, 413, 415, 422, 503),
            ),
            "delete": _operation(
                "deleteDatabase",
                "Delete the database, honouring its deletion_policy",
                tag=DB,
                description=(
                    "Requires role operator. DoNotTerminate refuses (409); pending changes "
                    "queued before the deletion are cancelled."
                ),
                parameters=[_param("IfMatch")],
                success=(202, accepted),
                errors=(401, 403, 404, 409, 412, 503),
            ),
        },
        "/v1/databases/{id}/restart": {
            "parameters": [_param("Id")],
            "post": _operation(
                "restartDatabase",
                "Restart the database's pods",
                tag=DB,
                description="Requires role operator.",
                parameters=[_param("IdempotencyKey")],
                success=(202, accepted),
                errors=(400, 401, 403, 404, 409, 422, 503),
            ),
        },
        "/v1/databases/{id}/operations": {
            "parameters": [_param("Id")],
            "get": _operation(
                "listDatabaseOperations",
                "The database's operations, oldest first",
                tag=OPS,
                parameters=[*page, _param("OperationState")],
                success=(200, _ok("A page of operations", "OperationList")),
                errors=(400, 401, 404, 503),
            ),
        },
        "/v1/databases/{id}/events": {
            "parameters": [_param("Id")],
            "get": _operation(
                "listDatabaseEvents",
                "The database's audit trail: who asked what, what the system did",
                tag=DB,
                parameters=page,
                success=(200, _ok("A page of events", "EventList")),
                errors=(400, 401, 404, 503),
            ),
        },
        "/v1/databases/{id}/credentials": {
            "parameters": [_param("Id")],
            "get": _operation(
                "getCredentials",
                "Connection credentials (from the database's auth Secret)",
                tag=DB,
                description=(
                    "Requires role operator. Every read is audited (event credentials.read). "
                    "409 credentials-not-ready until KubeDB has created the Secret."
                ),
                success=(200, _ok("Credentials", "Credentials")),
                errors=(401, 403, 404, 409, 503),
            ),
        },
        "/v1/operations": {
            "get": _operation(
                "listOperations",
                "The project's operations, oldest first",
                tag=OPS,
                parameters=[*page, _param("OperationState"), _param("DatabaseFilter")],
                success=(200, _ok("A page of operations", "OperationList")),
                errors=(400, 401, 503),
            ),
        },
        "/v1/operations/{id}": {
            "parameters": [_param("Id")],
            "get": _operation(
                "getOperation",
                "One operation",
                tag=OPS,
                success=(200, _ok("The operation", "Operation")),
                errors=(401, 404, 503),
            ),
        },
        "/v1/operations/{id}/cancel": {
            "parameters": [_param("Id")],
            "post": _operation(
                "cancelOperation",
                "Cancel a pending operation",
                tag=OPS,
                description=(
                    "Requires role operator. Only pending operations can be cancelled (409); "
                    "the fields it would have changed roll back."
                ),
                success=(200, _ok("The cancelled operation", "Operation")),
                errors=(401, 403, 404, 409, 503),
            ),
        },
        "/v1/engines": {
            "get": _operation(
                "listEngines",
                "Engines and the catalog versions a new database may use",
                tag="engines",
                description="Versions come from the cluster's KubeDB catalog; deprecated ones "
                "are hidden. 503 while the cluster is unreachable.",
                success=(200, _ok("Engines", "EngineList")),
                errors=(401, 503),
            ),
        },
        "/v1/quota": {
            "get": _operation(
                "getQuota",
                "The project's quotas: each limit and what the project uses of it",
                tag="quota",
                description="A create or a change past a limit is 403 quota-exceeded, naming "
                "the quota, its limit, the use and what the request would make it.",
                success=(200, _ok("Limits and use", "Quota")),
                errors=(401, 503),
            ),
        },
        "/v1/whoami": {
            "get": _operation(
                "whoami",
                "The project and role of the calling key",
                tag="keys",
                description="Any live key may ask; clients use it to offer only what the "
                "role allows.",
                success=(200, _ok("The key's identity", "Whoami")),
                errors=(401, 503),
            ),
        },
    }


# Markdown: /docs renders it as HTML, and generated clients and other viewers show it too.
INTRODUCTION = """\
Ask for PostgreSQL, MySQL, MongoDB and Redis databases; every change becomes an operation
carried out asynchronously (mutations answer 202 Accepted with the operations they queued).
A change is done when its operations have `succeeded` and the database is `ready` with
`status.observed_generation >= generation`.

## A first session

With `make run` running in another terminal (it writes a development key, admin of project
`default`, to `.dbaas/dev-api-key`), from the checkout, with the `dbaas` client:

```sh
export DBAAS_API_KEY=$(cat .dbaas/dev-api-key)
.venv/bin/dbaas db create orders --engine postgres --version 16.13 --wait
.venv/bin/dbaas db scale orders --replicas 3 --wait
.venv/bin/dbaas db credentials orders
.venv/bin/dbaas db delete orders --wait
```

or with curl and jq:

```sh
KEY=$(cat .dbaas/dev-api-key)
API=http://127.0.0.1:8000/v1
AUTH="Authorization: Bearer $KEY"
ID=$(curl -sf -X POST $API/databases -H "$AUTH" -H 'Content-Type: application/json' \\
     -d '{{"name": "orders", "engine": "postgres", "version": "16.13", "storage": "10Gi"}}' \\
     | jq -r .id)
ready='.state == "ready" and .status.observed_generation >= .generation'
until curl -sf $API/databases/$ID -H "$AUTH" | jq -e "$ready" >/dev/null; do sleep 1; done
ETAG=$(curl -sf -o /dev/null -D - $API/databases/$ID -H "$AUTH" \\
       | awk 'tolower($1)=="etag:" {{print $2}}' | tr -d '\\r')
curl -sf -X PATCH $API/databases/$ID -H "$AUTH" -H "If-Match: $ETAG" \\
     -H 'Content-Type: application/merge-patch+json' -d '{{"replicas": 3}}' | jq .operations
scaled="$ready and .status.observed.replicas == 3"
until curl -sf $API/databases/$ID -H "$AUTH" | jq -e "$scaled" >/dev/null; do sleep 1; done
curl -sf -X DELETE $API/databases/$ID -H "$AUTH" | jq -r '.operations[0].id'
until ! curl -sf $API/databases/$ID -H "$AUTH" >/dev/null; do sleep 1; done  # 404: gone
```

## Keys and errors

Authenticate with `Authorization: Bearer <key>`; roles viewer (read), operator (write,
credentials), admin. A revoked key stops working within {ttl} seconds (each API process
caches successful authentications that long). ETags are quoted strings: send them back in
`If-Match` as the `ETag` header gave them, quotes included.

Errors are `application/problem+json` (RFC 9457) with a stable `type` URI; new types may be
added, so treat an unknown one by its status. The types answered today:

{problem_types}
"""


@functools.cache
def document() -> Doc:
    """The whole OpenAPI document (built once; treat it as read-only)."""
    problem_types = "\n".join(
        f"- `{problems.TYPE_BASE}{slug}` ({status}): {title}"
        for slug, (status, title) in problems.TYPES.items()
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dbaas",
            "version": "1.0.0",
            "summary": "Managed databases on Kubernetes through KubeDB",
            "description": INTRODUCTION.format(
                ttl=f"{auth.DEFAULT_TTL_SECONDS:g}", problem_types=problem_types
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": DB, "description": "Databases: desired spec and observed status"},
            {"name": OPS, "description": "Operations: the queued changes and their outcome"},
            {"name": "engines", "description": "What can be created"},
            {"name": "keys", "description": "The calling API key"},
            {"name": "quota", "description": "The project's quotas and use"},
            {"name": SYS, "description": "Health, metrics and documentation (no key needed)"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": openapi_schemas.schemas(),
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key from `dbaas keys create`",
                }
            },
        },
    }
