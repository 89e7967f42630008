"""The OpenAPI 3.1 document of the API, generated from the route table and the body schemas.

The paths come from `app.routes()`: each route's handlers, each described once in
`DESCRIBED` by what the route table cannot say (summary, success schema, the facts that
decide its error answers, which are derived); the schemas are `openapi_schemas`, the
examples `openapi_examples`. Tests hold it to the implementation: every handler of
`app.routes()` is described and nothing else, the document is valid OpenAPI 3.1, real
responses validate against its schemas, and a generated client drives a whole flow.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

from services.api import auth, openapi_examples, openapi_schemas, problems
from services.api.openapi_parameters import PARAMETERS, param
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
    "ETag": _header("version of the desired spec, a quoted string; send it back as is in If-Match"),
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
        keyed = param("IdempotencyKey") in (parameters or [])
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


ACCEPTED_HEADERS = ("ETag", "Location", "Idempotent-Replayed")
DB = "databases"
OPS = "operations"
SYS = "system"
BACKUPS = "backups"


@dataclasses.dataclass(frozen=True)
class Described:
    """What the route table cannot say about one endpoint; the rest is derived from it.

    Errors follow from the facts: every /v1 endpoint may answer 401 and 503; a path with
    `{id}` 404; `role` 403; a body 400, 413, 415 and 422; `query` or `paged` 400;
    `idempotent` (Idempotency-Key) 400 and 422; `if_match` 412; `conflicts` 409.
    """

    summary: str
    tag: str
    ok: tuple[int, str, str]
    """Status, description and schema name of the success answer."""
    description: str = ""
    operation_id: str | None = None
    """Default: the handler's name in camelCase (`get_database` → `getDatabase`)."""
    headers: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    paged: bool = False
    body: str | None = None
    merge_patch: bool = False
    role: bool = False
    idempotent: bool = False
    if_match: bool = False
    conflicts: bool = False
    public: bool = False
    media: str = JSON
    """The success answer's media type; a schema of "" means a plain string."""
    answers: dict[str, Doc] = dataclasses.field(default_factory=dict)
    """Answers beyond the derived ones (readyz's 503)."""


ACCEPTED = (202, "Accepted: the desired spec is recorded and its operations queued", "")
OPERATOR = "Requires role operator."
PLATFORM = (
    "Requires an admin key of the platform project (DBAAS_PLATFORM_PROJECT, default "
    "`platform`); any other key gets 403 forbidden."
)

# One entry per endpoint of `app.routes()`, keyed by the handler's name; a unit test holds
# the two equal in both directions.
DESCRIBED: dict[str, Described] = {
    "healthz": Described(
        "Liveness: the process serves requests (no I/O)",
        SYS,
        (200, "Alive", "Health"),
        public=True,
    ),
    "readyz": Described(
        "Readiness: PostgreSQL, Redis and every supervised program are up",
        SYS,
        (200, "Ready", "Readiness"),
        public=True,
        answers={
            "503": {
                "description": "Not ready; `checks` says what fails",
                "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                "content": {
                    PROBLEM_JSON: {
                        "schema": ref("NotReadyProblem"),
                        "examples": {"not-ready": {"value": openapi_examples.NOT_READY}},
                    }
                },
            }
        },
    ),
    "endpoint": Described(
        "Prometheus metrics (text exposition format)",
        SYS,
        (200, "Metrics of every API worker process", ""),
        operation_id="metrics",
        media="text/plain",
        public=True,
    ),
    "openapi_json": Described(
        "This document",
        SYS,
        (200, "OpenAPI 3.1", "object"),
        operation_id="openapi",
        public=True,
    ),
    "docs_page": Described(
        "Human-readable documentation of this API (HTML)",
        SYS,
        (200, "HTML page", ""),
        operation_id="docs",
        media="text/html",
        public=True,
    ),
    "list_databases": Described(
        "List the project's databases, oldest first",
        DB,
        (200, "A page of databases", "DatabaseList"),
        paged=True,
        query=("Engine", "DatabaseState", "Name"),
    ),
    "create_database": Described(
        "Ask for a new database",
        DB,
        ACCEPTED,
        description=f"{OPERATOR} Names are unique per project (409). With `restore` the "
        "database is made from a backup or a point in time of another of the project's "
        "databases (404 if not in the project; 422 restore-not-possible with a `reason`). "
        "`backup` queues a `backup_policy` operation after the first one.",
        body="DatabaseCreate",
        role=True,
        idempotent=True,
        conflicts=True,
    ),
    "get_database": Described(
        "One database: desired spec and observed status",
        DB,
        (200, "The database", "Database"),
        description="A deleted database is gone (404); its operations stay readable.",
        headers=("ETag",),
    ),
    "update_database": Described(
        "Change the desired spec (JSON merge patch)",
        DB,
        ACCEPTED,
        description=f"{OPERATOR} Queues one operation per kind of change "
        "(configure, backup_policy, expand, resize, scale, upgrade). `backup: null` pauses "
        "scheduled backups and keeps every snapshot.",
        body="DatabasePatch",
        merge_patch=True,
        role=True,
        if_match=True,
        conflicts=True,
    ),
    "delete_database": Described(
        "Delete the database, honouring its deletion_policy",
        DB,
        ACCEPTED,
        description=f"{OPERATOR} DoNotTerminate refuses (409); pending changes "
        "queued before the deletion are cancelled. Its schedule stops; its snapshots are kept "
        "(Repository `Retain`) and its backups stay listable: GET /v1/backups?database_id=; "
        "with the server's DBAAS_DELETED_BACKUP_RETENTION they expire (each backup's "
        "`expires_at`) and their Snapshots are deleted, otherwise they are kept.",
        role=True,
        if_match=True,
        conflicts=True,
    ),
    "restart_database": Described(
        "Restart the database's pods",
        DB,
        ACCEPTED,
        description=OPERATOR,
        role=True,
        idempotent=True,
        conflicts=True,
    ),
    "list_database_operations": Described(
        "The database's operations, oldest first",
        OPS,
        (200, "A page of operations", "OperationList"),
        paged=True,
        query=("OperationState",),
    ),
    "list_database_events": Described(
        "The database's audit trail: who asked what, what the system did",
        DB,
        (200, "A page of events", "EventList"),
        paged=True,
    ),
    "get_credentials": Described(
        "Connection credentials (from the database's auth Secret)",
        DB,
        (200, "Credentials", "Credentials"),
        description=f"{OPERATOR} Every read is audited (event credentials.read). "
        "409 credentials-not-ready until KubeDB has created the Secret.",
        role=True,
        conflicts=True,
    ),
    "list_operations": Described(
        "The project's operations, oldest first",
        OPS,
        (200, "A page of operations", "OperationList"),
        paged=True,
        query=("OperationState", "DatabaseFilter"),
    ),
    "get_operation": Described("One operation", OPS, (200, "The operation", "Operation")),
    "cancel_operation": Described(
        "Cancel a pending operation",
        OPS,
        (200, "The cancelled operation", "Operation"),
        description=f"{OPERATOR} Only pending operations can be cancelled (409); "
        "the fields it would have changed roll back.",
        role=True,
        conflicts=True,
    ),
    "create_backup": Described(
        "Take a backup of the database now",
        BACKUPS,
        (202, "Accepted: the backup is recorded and its operation queued", "BackupAccepted"),
        description=f"{OPERATOR} Queues a `backup` operation (after the database's other "
        "operations; cancellable while pending). 503 backups-not-configured when the server "
        "has no BackupStorage (DBAAS_BACKUP_STORAGE).",
        headers=("Location", "Idempotent-Replayed"),
        role=True,
        idempotent=True,
        conflicts=True,
    ),
    "list_database_backups": Described(
        "The database's backups, scheduled and manual, newest first",
        BACKUPS,
        (200, "A page of backups", "BackupList"),
        paged=True,
        query=("BackupState", "BackupOrigin"),
    ),
    "list_backups": Described(
        "The project's backups, newest first (those of deleted databases too)",
        BACKUPS,
        (200, "A page of backups", "BackupList"),
        description="Listed while their snapshot exists.",
        paged=True,
        query=("BackupState", "BackupOrigin", "BackupDatabaseFilter"),
    ),
    "get_backup": Described("One backup", BACKUPS, (200, "The backup", "Backup")),
    "list_engines": Described(
        "Engines and the catalog versions a new database may use",
        "engines",
        (200, "Engines", "EngineList"),
        description="Versions come from the cluster's KubeDB catalog; deprecated ones "
        "are hidden. 503 while the cluster is unreachable.",
    ),
    "get_quota": Described(
        "The project's quotas: each limit and what the project uses of it",
        "quota",
        (200, "Limits and use", "Quota"),
        description="A create or a change past a limit is 403 quota-exceeded, naming "
        "the quota, its limit, the use and what the request would make it.",
    ),
    "get_project_quota": Described(
        "A project's quotas, for the platform team",
        "quota",
        (200, "Limits and use", "Quota"),
        description=f"{PLATFORM} The project need not exist yet: its limits are then the "
        "defaults and its use nothing.",
        role=True,
    ),
    "patch_project_quota": Described(
        "Override some of a project's quotas, for the platform team",
        "quota",
        (200, "The new limits and use", "Quota"),
        description=f"{PLATFORM} Each field given is set: a count or a quantity, 0 for no "
        "limit, null for the server's default (DBAAS_QUOTA_*); fields left out keep their "
        "value. Recorded in the project's events (quota.changed). A limit lowered below "
        "the use refuses new growth only; nothing that exists is touched.",
        body="QuotaOverrides",
        role=True,
    ),
    "list_keys": Described(
        "The project's API keys (never their secrets)",
        "keys",
        (200, "Keys", "KeyList"),
        description="Requires role admin.",
        role=True,
    ),
    "create_key": Described(
        "Issue an API key of the project",
        "keys",
        (201, "The key, shown once", "KeyCreated"),
        description="Requires role admin. The key is in this answer only; a role above "
        "the caller's is 403. Audited as event key.created.",
        body="KeyCreate",
        role=True,
    ),
    "revoke_key": Described(
        "Revoke an API key of the project",
        "keys",
        (200, "The revoked key", "KeyRevoked"),
        description="Requires role admin. Answers once every API process confirmed it "
        "forgot the key (revocation.confirmed of revocation.processes). Audited as event "
        "key.revoked.",
        role=True,
    ),
    "whoami": Described(
        "The project and role of the calling key",
        "keys",
        (200, "The key's identity", "Whoami"),
        description="Any live key may ask; clients use it to offer only what the role allows.",
    ),
}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _errors(path: str, described: Described) -> tuple[int, ...]:
    if described.public:
        return ()
    codes = {401, 503}
    if "{id}" in path or described.body == "DatabaseCreate":  # a restore's source
        codes.add(404)
    if "{project}" in path:
        codes.add(422)  # not a project id
    if described.role:
        codes.add(403)
    if described.body is not None:
        codes |= {400, 413, 415, 422}
    if described.paged or described.query:
        codes.add(400)
    if described.idempotent:
        codes |= {400, 422}
    if described.if_match:
        codes.add(412)
    if described.conflicts:
        codes.add(409)
    return tuple(sorted(codes))


def _success(described: Described) -> Doc:
    status, text, schema = described.ok
    if status == 202 and not schema:
        return _ok(ACCEPTED[1], "DatabaseAccepted", headers=ACCEPTED_HEADERS)
    if described.media != JSON or schema == "object":
        kind = "object" if schema == "object" else "string"
        return {"description": text, "content": {described.media: {"schema": {"type": kind}}}}
    return _ok(text, schema, headers=described.headers)


def described_operation(path: str, handler_name: str) -> Doc:
    """The OpenAPI operation of one handler on one path."""
    described = DESCRIBED[handler_name]
    parameters = [param("Limit"), param("Cursor")] if described.paged else []
    parameters += [param(name) for name in described.query]
    if described.idempotent:
        parameters.append(param("IdempotencyKey"))
    if described.if_match:
        parameters.append(param("IfMatch"))
    media = (JSON, "application/merge-patch+json") if described.merge_patch else (JSON,)
    operation = _operation(
        described.operation_id or _camel(handler_name),
        described.summary,
        tag=described.tag,
        description=described.description,
        parameters=parameters or None,
        body=(described.body, media) if described.body is not None else None,
        success=(described.ok[0], _success(described)),
        errors=_errors(path, described),
        public=described.public,
    )
    operation["responses"] |= described.answers
    return operation


def _paths() -> Doc:
    """Every route of `app.routes()`: the public system paths first, then /v1."""
    from services.api import app  # the app imports this module's users: import when built

    paths: Doc = {}
    for route in sorted(app.routes(), key=lambda r: r.path.startswith("/v1")):
        handlers = getattr(route.endpoint, "handlers", None) or {
            method: route.endpoint for method in route.methods or ()
        }
        item: Doc = {}
        if "{id}" in route.path:
            item["parameters"] = [param("Id")]
        elif "{project}" in route.path:
            item["parameters"] = [param("Project")]
        for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
            if method in handlers:
                item[method.lower()] = described_operation(route.path, handlers[method].__name__)
        paths[route.path] = item
    return paths


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
            {"name": BACKUPS, "description": "Backups through KubeStash"},
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
