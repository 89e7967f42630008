"""Validation errors of the domain: field-level, machine-readable, collected all at once.

Why: the API answers a rejected request with one 422 problem+json listing every field
problem, so validation collects `FieldError`s instead of stopping at the first one, and each
carries a stable `code` clients can branch on. This module knows nothing about HTTP.

Field paths are dotted (`"resources.cpu"`); the request body as a whole is the empty path
`""` (like the JSON Pointer to the document root).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

# Stable machine codes: clients and the API's problem types rely on these strings.
INVALID_NAME = "invalid_name"
NAME_TOO_LONG = "name_too_long"
UNKNOWN_FIELD = "unknown_field"
REQUIRED = "required"
INVALID_TYPE = "invalid_type"
UNKNOWN_ENGINE = "unknown_engine"
UNKNOWN_VERSION = "unknown_version"
DEPRECATED_VERSION = "deprecated_version"
UPGRADE_NOT_ALLOWED = "upgrade_not_allowed"
OUT_OF_RANGE = "out_of_range"
INVALID_QUANTITY = "invalid_quantity"
STORAGE_SHRINK = "storage_shrink"
TOPOLOGY_CHANGE = "topology_change"
IMMUTABLE = "immutable"
INVALID_CHOICE = "invalid_choice"
INVALID_SCHEDULE = "invalid_schedule"
INVALID_DURATION = "invalid_duration"
NOT_SUPPORTED = "not_supported"

CODES: frozenset[str] = frozenset(
    {
        INVALID_NAME,
        NAME_TOO_LONG,
        UNKNOWN_FIELD,
        REQUIRED,
        INVALID_TYPE,
        UNKNOWN_ENGINE,
        UNKNOWN_VERSION,
        DEPRECATED_VERSION,
        UPGRADE_NOT_ALLOWED,
        OUT_OF_RANGE,
        INVALID_QUANTITY,
        STORAGE_SHRINK,
        TOPOLOGY_CHANGE,
        IMMUTABLE,
        INVALID_CHOICE,
        INVALID_SCHEDULE,
        INVALID_DURATION,
        NOT_SUPPORTED,
    }
)


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One problem with one field of a request: where, what kind (stable code), and why."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class ValidationFailed(Exception):
    """A request broke one or more rules; `errors` lists every one of them, in the order found."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        super().__init__("; ".join(f"{e.field or '(body)'}: {e.message}" for e in self.errors))

    def codes(self) -> dict[str, str]:
        """`{field: code}` of the first error per field, handy for callers and tests."""
        result: dict[str, str] = {}
        for error in self.errors:
            result.setdefault(error.field, error.code)
        return result
