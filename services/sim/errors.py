"""Kubernetes `Status` errors of the simulated API server.

Every failure the simulator answers is an `ApiError` carrying the exact `Status` body a
real kube-apiserver sends (kind Status, status Failure, reason, details, code), so clients
that branch on `ApiException.status` or on the Status `reason` behave as they would against
a real cluster. This module must never decide *when* to fail; it only shapes the answer.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed request, rendered as a Kubernetes `Status` body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    details.update(extra)
    return details


def qualified(plural: str, group: str) -> str:
    """`postgreses.kubedb.com`, or just `secrets` for the core group."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        details=_details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {qualified(plural, group)} "
        f'"{name}": the object has been modified; please apply your changes to the latest '
        "version and try again",
        details=_details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid, worded like apimachinery's `NewInvalid`."""
    rendered = [
        f"{cause['field']}: {cause['message']}" if cause.get("field") else cause["message"]
        for cause in causes
    ]
    summary = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    return ApiError(
        422,
        "Invalid",
        f'{qualified_kind} "{name}" is invalid: {summary}',
        details=_details(name, group, kind, causes=causes),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str, *, plural: str = "", group: str = "", name: str = "") -> ApiError:
    details = _details(name, group, plural) if plural else None
    return ApiError(403, "Forbidden", message, details=details)


def webhook_denied(webhook: str, message: str, *, plural: str, group: str, name: str) -> ApiError:
    """A validating admission webhook said no (controller-runtime's `Denied`: 403)."""
    return forbidden(
        f'admission webhook "{webhook}" denied the request: {message}',
        plural=plural,
        group=group,
        name=name,
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(verb: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({verb})",
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)} (got {content_type or 'nothing'})",
    )


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        "The server has received too many requests and has asked us to try again later",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def internal(message: str) -> ApiError:
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        details={"causes": [{"message": message}]},
    )


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def injected(code: int, *, retry_after: int) -> ApiError:
    """The error a fault rule asks for, shaped like the real server's answer for that code."""
    if code == 429:
        return too_many_requests(retry_after)
    if code == 500:
        return internal("injected by dbaas sim")
    if code == 503:
        return service_unavailable("the server is currently unable to handle the request")
    if code == 504:
        return ApiError(504, "Timeout", "the server was unable to return a response in time")
    return ApiError(code, "InternalError", f"injected error {code}")
