"""Errors of the control layer, each with a stable problem type the API reports (RFC 9457).

The API maps these to `application/problem+json`; the CLI prints `detail`. The `type`
slugs are part of the external contract: never rename one.
"""

from __future__ import annotations

from typing import Any


class ControlError(Exception):
    status: int = 400
    type: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(ControlError):
    status, type, title = 404, "not-found", "Not found"


class Forbidden(ControlError):
    status, type, title = 403, "forbidden", "Forbidden"


class QuotaExceeded(ControlError):
    status, type, title = 403, "quota-exceeded", "Quota exceeded"


class NameConflict(ControlError):
    status, type, title = 409, "name-taken", "Name already taken"


class DatabaseDeleting(ControlError):
    status, type, title = 409, "database-deleting", "Database is being deleted"


class DeletionProtected(ControlError):
    status, type, title = 409, "deletion-protected", "Database is protected from deletion"


class OperationNotCancellable(ControlError):
    status, type, title = 409, "operation-not-cancellable", "Operation cannot be cancelled"


class PreconditionFailed(ControlError):
    status, type, title = 412, "precondition-failed", "Precondition failed"


class CatalogUnavailable(ControlError):
    status, type, title = 503, "catalog-unavailable", "Version catalog unavailable"


class BackupsNotConfigured(ControlError):
    status, type, title = 503, "backups-not-configured", "Backups are not configured"


class RestoreNotPossible(ControlError):
    status, type, title = 422, "restore-not-possible", "The restore cannot be done"
