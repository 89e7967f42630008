"""Errors as `application/problem+json` (RFC 9457): one shape for every failed request.

Why: clients branch on the stable `type` URI of a problem, never on the human text. The
control layer names its own kinds (`ControlError.type`); this module adds the HTTP-level
kinds (auth, malformed requests, outages) and turns every exception the API lets escape
into one problem response. It must never put a secret (key, password, URL with a
password) into a problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.api import encoding
from services.control import errors as control_errors
from services.domain import errors as domain_errors

log = logging.getLogger(__name__)

TYPE_BASE = "https://dbaas.dev/problems/"
MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = 5

# Every problem type this API answers with: slug → (status, title). The slugs are part of
# the external contract (see openapi.py): never rename one.
TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "malformed-json": (400, "Malformed JSON body"),
    "invalid-query": (400, "Invalid query parameters"),
    "invalid-cursor": (400, "Invalid pagination cursor"),
    "unauthorized": (401, "Missing or invalid API key"),
    "forbidden": (403, "Forbidden"),
    "quota-exceeded": (403, "Quota exceeded"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "name-taken": (409, "Name already taken"),
    "database-deleting": (409, "Database is being deleted"),
    "deletion-protected": (409, "Database is protected from deletion"),
    "operation-not-cancellable": (409, "Operation cannot be cancelled"),
    "credentials-not-ready": (409, "Credentials not ready"),
    "concurrent-change": (409, "Concurrent change; retry the request"),
    "request-timeout": (408, "Request body not received in time"),
    "precondition-failed": (412, "Precondition failed"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation-failed": (422, "Validation failed"),
    "body-too-deep": (422, "JSON body nested too deeply"),
    "idempotency-key-reused": (422, "Idempotency-Key reused with another request"),
    "restore-not-possible": (422, "The restore cannot be done"),
    "rate-limited": (429, "Too many requests"),
    "client-closed-request": (499, "Client closed the request"),
    "internal-error": (500, "Internal server error"),
    "store-unavailable": (503, "PostgreSQL unavailable"),
    "queue-unavailable": (503, "Redis unavailable"),
    "cluster-unavailable": (503, "Kubernetes cluster unavailable"),
    "catalog-unavailable": (503, "Version catalog unavailable"),
    "not-ready": (503, "Not ready"),
    "backups-not-configured": (503, "Backups are not configured"),
}


class Problem(Exception):
    """An HTTP answer in problem form; raise it anywhere in a request, the handler renders it."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        known_status, known_title = TYPES.get(slug, (400, "Bad request"))
        self.slug = slug
        self.status = status or known_status
        self.title = title or known_title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    def body(self, instance: str) -> dict[str, Any]:
        return {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            **self.extensions,
        }


class ProblemResponse(Response):
    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return encoding.dumps(content)


def respond(problem: Problem, request: Request) -> ProblemResponse:
    headers = dict(problem.headers)
    if problem.status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return ProblemResponse(problem.body(request.url.path), problem.status, headers=headers)


def field_errors(errors: Sequence[domain_errors.FieldError]) -> list[dict[str, str]]:
    return [error.as_dict() for error in errors]


def unauthorized(detail: str) -> Problem:
    return Problem("unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="dbaas"'})


def not_found(detail: str) -> Problem:
    return Problem("not-found", detail)


# -- exception handlers (registered by the app factory) ----------------------------------


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return respond(exc, request)


async def on_control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, control_errors.ControlError)
    problem = Problem(exc.type, exc.detail, status=exc.status, title=exc.title, **exc.extensions)
    return respond(problem, request)


async def on_validation_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, domain_errors.ValidationFailed)
    problem = Problem(
        "validation-failed",
        f"{len(exc.errors)} field(s) failed validation",
        errors=field_errors(exc.errors),
    )
    return respond(problem, request)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (unknown route, wrong method) in problem form."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        problem = not_found(f"no route for {request.url.path}")
    elif exc.status_code == 405:
        allowed = ", ".join(sorted(m.strip() for m in headers.get("Allow", "").split(",")))
        headers["Allow"] = allowed
        problem = Problem(
            "method-not-allowed",
            f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}",
        )
    else:
        problem = Problem("bad-request", str(exc.detail), status=exc.status_code)
    problem.headers.update(headers)
    return respond(problem, request)


async def on_store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: PostgreSQL unavailable: %s", request.method, request.url.path, exc)
    problem = Problem("store-unavailable", "PostgreSQL is unavailable; retry later")
    return respond(problem, request)


async def on_conflict(request: Request, exc: Exception) -> Response:
    log.warning(
        "%s %s: gave up after concurrent changes: %s", request.method, request.url.path, exc
    )
    problem = Problem(
        "concurrent-change",
        "concurrent requests changed this resource meanwhile; nothing was applied, retry",
        headers={"Retry-After": "1"},
    )
    return respond(problem, request)


async def on_queue_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: Redis unavailable: %s", request.method, request.url.path, exc)
    return respond(Problem("queue-unavailable", "Redis is unavailable; retry later"), request)


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    """The client went away mid-request: nobody reads this answer, but the access line and
    the metrics count it as 499 (nginx's "client closed request"), not as a server error,
    and no traceback is written."""
    problem = Problem("client-closed-request", "the client closed the connection")
    return respond(problem, request)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """The last resort (Starlette logs the traceback and re-raises after this answer)."""
    problem = Problem("internal-error", "the server failed to handle this request")
    return respond(problem, request)
