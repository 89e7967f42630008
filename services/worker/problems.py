"""Problem details (RFC 9457) for operations the worker fails; the API shows them as they are.

A failed operation's `error` column holds one of these dicts: `type` (a stable slug, like
`services.control.errors`), `title`, `status`, `detail`, and for errors Kubernetes answered,
`kubernetes: {status, reason, causes}` so a user sees which field the cluster refused. The
type slugs are part of the external contract: never rename one. Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

from services.clients.kube import KubeError

# Kubernetes status -> (type slug, title) for the permanent refusals.
_REFUSALS: dict[int, tuple[str, str]] = {
    400: ("kubernetes-bad-request", "Kubernetes rejected the request"),
    403: ("kubernetes-forbidden", "Kubernetes refused the request"),
    404: ("kubernetes-not-found", "A Kubernetes object the operation needs does not exist"),
    409: ("kubernetes-conflict", "Kubernetes reported a conflict"),
    422: ("kubernetes-invalid", "Kubernetes rejected the manifest as invalid"),
}


def _kubernetes(error: KubeError) -> dict[str, Any]:
    return {"status": error.status, "reason": error.reason, "causes": list(error.causes)}


def refused(error: KubeError, *, doing: str) -> dict[str, Any]:
    """A permanent error Kubernetes answered while `doing` (e.g. "creating Postgres orders")."""
    slug, title = _REFUSALS.get(error.status, ("kubernetes-error", "Kubernetes call failed"))
    detail = f"{doing}: {error.message or error.reason}"
    causes = [
        f"{cause.get('field')}: {cause.get('message')}" if cause.get("field") else cause["message"]
        for cause in error.causes
        if isinstance(cause, dict) and cause.get("message")
    ]
    if causes and not all(cause in detail for cause in causes):
        detail += " (" + "; ".join(causes) + ")"
    return {
        "type": slug,
        "title": title,
        "status": error.status or 502,
        "detail": detail,
        "kubernetes": _kubernetes(error),
    }


def unavailable(error: KubeError, *, doing: str, claims: int) -> dict[str, Any]:
    """Transient errors that outlasted every retry of every claim."""
    return {
        "type": "kubernetes-unavailable",
        "title": "Kubernetes stayed unavailable",
        "status": 503,
        "detail": f"{doing}: still failing after {claims} attempts: {error}",
        "kubernetes": _kubernetes(error),
    }


def name_clash(kind: str, namespace: str, name: str, *, owner: str | None) -> dict[str, Any]:
    """Our deterministic name is taken by an object dbaas did not create for this purpose."""
    held_by = f"database {owner}" if owner else "an object dbaas does not manage"
    return {
        "type": "kubernetes-name-taken",
        "title": "The name is taken in the cluster",
        "status": 409,
        "detail": f"{kind} {namespace}/{name} already exists and belongs to {held_by}",
        "kubernetes": {"status": 409, "reason": "AlreadyExists", "causes": []},
    }


def unrenderable(exc: Exception, *, operation_type: str) -> dict[str, Any]:
    """The stored spec or params cannot be turned into a manifest (a bug or a bad row)."""
    return {
        "type": "manifest-unrenderable",
        "title": "The operation cannot be rendered as a KubeDB manifest",
        "status": 422,
        "detail": f"{operation_type}: {exc}",
    }


def too_many_claims(claims: int) -> dict[str, Any]:
    """A worker kept crashing or losing its lease on this operation."""
    return {
        "type": "operation-abandoned",
        "title": "The operation was attempted too many times",
        "status": 500,
        "detail": f"claimed {claims} times without reaching Kubernetes; giving up",
    }


def database_missing(database_id: object) -> dict[str, Any]:
    return {
        "type": "database-missing",
        "title": "The operation's database no longer exists",
        "status": 404,
        "detail": f"database {database_id} not found",
    }
