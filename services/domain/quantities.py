"""Kubernetes resource quantities ("10Gi", "500m", "1e3") parsed exactly into `Decimal`.

Why: storage, cpu and memory arrive from users as Kubernetes quantity strings and come back
from the cluster in whatever form KubeDB or the API server chose ("0.7" vs "700m",
"1Gi" vs "1024Mi"). Validation (bounds, grow-only storage) and drift detection must compare
them by value, exactly, never through floats.

The grammar is Kubernetes' own (apimachinery `resource.ParseQuantity`):

    <quantity> ::= <sign>? <number> <suffix>
    <number>   ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>   ::= Ki|Mi|Gi|Ti|Pi|Ei | n|u|m|""|k|M|G|T|P|E | (e|E)<sign>?<digits>

with two deliberate restrictions: negative quantities are rejected (nothing we size can be
negative), and the exponent must fit in 32 bits as in Kubernetes. No surrounding whitespace
is accepted. This module never does I/O and never uses floats.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, localcontext

__all__ = [
    "InvalidQuantity",
    "compare_quantities",
    "format_quantity",
    "is_quantity",
    "parse_quantity",
    "same_quantity",
]

BINARY_SUFFIXES: dict[str, int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
DECIMAL_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)"
    r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exponent>[+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))"
)
_INT32_MAX = 2**31 - 1


class InvalidQuantity(ValueError):
    """The text is not a non-negative Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """The exact value of a quantity: `"1Gi"` -> 1073741824, `"500m"` -> 0.5."""
    if not isinstance(text, str):
        raise InvalidQuantity(f"a quantity must be a string, not {type(text).__name__}")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise InvalidQuantity(f"{text!r} is not a Kubernetes quantity")
    if match["sign"] == "-":
        raise InvalidQuantity(f"{text!r} is negative")
    number = Decimal(match["number"])
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        if abs(exponent) > _INT32_MAX:
            raise InvalidQuantity(f"{text!r} has an exponent out of range")
        return number.scaleb(exponent, context=_exact_context(number))
    multiplier = (
        Decimal(BINARY_SUFFIXES[match["binary"]])
        if match["binary"] is not None
        else DECIMAL_SUFFIXES[match["decimal"]]
    )
    with localcontext(_exact_context(number)):
        return number * multiplier


def is_quantity(text: object) -> bool:
    """True when `text` is a string `parse_quantity` accepts."""
    try:
        parse_quantity(text)  # type: ignore[arg-type]
    except InvalidQuantity:
        return False
    return True


def compare_quantities(left: str, right: str) -> int:
    """-1, 0 or 1 as `left` is smaller than, equal to or larger than `right`, by value."""
    a, b = parse_quantity(left), parse_quantity(right)
    return (a > b) - (a < b)


def same_quantity(left: str | None, right: str | None) -> bool:
    """Equal by value (`"1Gi"` == `"1024Mi"`); two Nones are the same, None and a value not."""
    if left is None or right is None:
        return left is right
    return compare_quantities(left, right) == 0


def format_quantity(value: Decimal | int, *, binary: bool = True) -> str:
    """A short canonical spelling of `value`.

    Whole numbers take the shortest of: the plain number, the largest decimal suffix that
    divides them exactly, and (when `binary`, for bytes) the largest binary one, binary
    winning ties (10737418240 -> "10Gi", 2000 -> "2k"). Fractions use milli, micro or nano
    units ("0.5" -> "500m"). Raises for negative values and for fractions finer than a nano
    unit, which Kubernetes cannot express.
    """
    amount = Decimal(value)
    if amount < 0:
        raise InvalidQuantity(f"{value} is negative")
    if amount == amount.to_integral_value():
        whole = int(amount)
        candidates = [str(whole)]
        if whole:
            candidates.append(_with_largest_suffix(whole, _DECIMAL_MULTIPLES))
            if binary:
                candidates.append(_with_largest_suffix(whole, BINARY_SUFFIXES))
        return min(reversed(candidates), key=len)
    for suffix in ("m", "u", "n"):
        scale = -DECIMAL_SUFFIXES[suffix].adjusted()
        scaled = amount.scaleb(scale, context=_exact_context(amount))
        if scaled == scaled.to_integral_value():
            return f"{int(scaled)}{suffix}"
    raise InvalidQuantity(f"{value} is finer than a nano unit")


_DECIMAL_MULTIPLES: dict[str, int] = {
    suffix: int(factor) for suffix, factor in DECIMAL_SUFFIXES.items() if factor > 1
}


def _with_largest_suffix(whole: int, factors: dict[str, int]) -> str:
    for suffix, factor in sorted(factors.items(), key=lambda item: -item[1]):
        if whole % factor == 0:
            return f"{whole // factor}{suffix}"
    return str(whole)


def _exact_context(number: Decimal) -> Context:
    # Enough digits that scaling by a suffix (at most 19 digits) never rounds.
    return Context(prec=len(number.as_tuple().digits) + 40, Emax=10**10, Emin=-(10**10))
