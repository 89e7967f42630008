"""Readers of request-body fields that report problems as `FieldError`s instead of raising.

Why: validation must collect every problem of a request in one pass, with strict JSON types
(`true` is not an integer, `"3"` is not one, `3.0` is not one either) and the same wording
everywhere. `specs` composes these readers; they know no business rule. Pure, no I/O.

Each reader appends what is wrong to `found` and returns the value, or None when the value is
absent or unusable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from services.domain import errors, quantities


@dataclasses.dataclass(frozen=True)
class QuantityRange:
    minimum: str
    maximum: str
    max_decimals: int  # 0: whole bytes; 3: whole millicores
    unit: str

    def check(self, field: str, text: str) -> errors.FieldError | None:
        try:
            value = quantities.parse_quantity(text)
        except quantities.InvalidQuantity:
            return errors.FieldError(
                field,
                errors.INVALID_QUANTITY,
                f"{text!r} is not a Kubernetes quantity (examples: {self.minimum!r}, "
                f"{self.maximum!r})",
            )
        low, high = quantities.parse_quantity(self.minimum), quantities.parse_quantity(self.maximum)
        if quantities.decimal_places(value) > self.max_decimals:
            return errors.FieldError(
                field, errors.INVALID_QUANTITY, f"{text!r} must be a whole number of {self.unit}"
            )
        if not low <= value <= high:
            return errors.FieldError(
                field,
                errors.OUT_OF_RANGE,
                f"must be between {self.minimum} and {self.maximum} (got {text})",
            )
        return None


def unknown_fields(
    body: Mapping[str, Any], allowed: Sequence[str], *, prefix: str = ""
) -> list[errors.FieldError]:
    return [
        errors.FieldError(
            f"{prefix}{key}", errors.UNKNOWN_FIELD, f"unknown field; allowed: {', '.join(allowed)}"
        )
        for key in body
        if key not in allowed
    ]


def required_string(
    body: Mapping[str, Any], field: str, found: list[errors.FieldError]
) -> str | None:
    value = body.get(field)
    if value is None:
        found.append(errors.FieldError(field, errors.REQUIRED, "is required"))
        return None
    if not isinstance(value, str):
        found.append(wrong_type(field, "a string", value))
        return None
    return value


def optional_integer(
    body: Mapping[str, Any], field: str, *, default: int, found: list[errors.FieldError]
) -> int | None:
    if field not in body:
        return default
    value = body[field]
    if not is_integer(value):
        found.append(wrong_type(field, "an integer", value))
        return None
    return int(value)


def choice(
    body: Mapping[str, Any],
    field: str,
    choices: Sequence[str],
    *,
    default: str,
    found: list[errors.FieldError],
) -> str | None:
    if field not in body:
        return default
    value = body[field]
    if not isinstance(value, str):
        found.append(wrong_type(field, f"one of {', '.join(choices)}", value))
        return None
    if value not in choices:
        found.append(invalid_choice(field, value, choices))
        return None
    return value


def patched_string(
    body: Mapping[str, Any], field: str, found: list[errors.FieldError]
) -> str | None:
    """The new value of a non-removable string field, or None when absent or invalid."""
    if field not in body:
        return None
    value = body[field]
    if value is None:
        found.append(errors.FieldError(field, errors.REQUIRED, "cannot be removed"))
        return None
    if not isinstance(value, str):
        found.append(wrong_type(field, "a string", value))
        return None
    return value


def patched_integer(
    body: Mapping[str, Any], field: str, found: list[errors.FieldError]
) -> int | None:
    if field not in body:
        return None
    value = body[field]
    if value is None:
        found.append(errors.FieldError(field, errors.REQUIRED, "cannot be removed"))
        return None
    if not is_integer(value):
        found.append(wrong_type(field, "an integer", value))
        return None
    return int(value)


def is_integer(value: object) -> bool:
    # JSON numbers like 3.0 arrive as floats: not integers for us. bool is an int subclass.
    return isinstance(value, int) and not isinstance(value, bool)


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def wrong_type(field: str, expected: str, value: object) -> errors.FieldError:
    return errors.FieldError(
        field, errors.INVALID_TYPE, f"must be {expected}, not {json_type(value)}"
    )


def not_an_object(field: str, value: object) -> errors.FieldError:
    return wrong_type(field, "a JSON object", value)


def invalid_choice(field: str, value: str, choices: Sequence[str]) -> errors.FieldError:
    return errors.FieldError(
        field, errors.INVALID_CHOICE, f"{value!r} is not one of {', '.join(choices)}"
    )
