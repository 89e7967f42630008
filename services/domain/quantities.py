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
    "decimal_places",
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
_PLAIN_LIMIT = 40  # beyond 10**40 (or below 10**-40) format_quantity uses the exponent form


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
        # Count the digits first: int() of a 5,000-digit exponent raises ValueError.
        sign, digits = match["exponent"][:1], match["exponent"].lstrip("+-").lstrip("0")
        too_long = len(digits) > len(str(_INT32_MAX))
        exponent = None if too_long else int(digits or "0") * (-1 if sign == "-" else 1)
        if exponent is None or abs(exponent) > _INT32_MAX:
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


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point once trailing zeros go: 1.50 -> 1, 1e3 -> 0, 1e-3 -> 3.

    Exact and cheap for any exponent (no division, no big integers), which `%` is not.
    """
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise InvalidQuantity(f"{value} is not a finite number")
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if trailing_zeros == len(digits):  # zero
        return 0
    return max(0, -(exponent + trailing_zeros))


def format_quantity(value: Decimal | int, *, binary: bool = True) -> str:
    """A short canonical spelling of `value`.

    Whole numbers take the shortest of: the plain number, the largest decimal suffix that
    divides them exactly, and (when `binary`, for bytes) the largest binary one, binary
    winning ties (10737418240 -> "10Gi", 2000 -> "2k"). Fractions use milli, micro or nano
    units ("0.5" -> "500m"). Magnitudes beyond 10**40 either way use the exponent form
    ("1e45"). Raises for negative values and for other fractions finer than a nano unit.
    """
    amount = Decimal(value)
    if amount < 0:
        raise InvalidQuantity(f"{value} is negative")
    places = decimal_places(amount)
    if amount and not -_PLAIN_LIMIT < amount.adjusted() < _PLAIN_LIMIT:
        # Far too large or small to spell out: use Kubernetes' exponent form.
        _, digits, exponent = amount.as_tuple()
        assert isinstance(exponent, int)
        return f"{''.join(map(str, digits))}e{exponent}"
    if places == 0:
        whole = int(amount)
        candidates = [str(whole)]
        if whole:
            candidates.append(_with_largest_suffix(whole, _DECIMAL_MULTIPLES))
            if binary:
                candidates.append(_with_largest_suffix(whole, BINARY_SUFFIXES))
        return min(reversed(candidates), key=len)
    for suffix in ("m", "u", "n"):
        scale = -DECIMAL_SUFFIXES[suffix].adjusted()
        if places <= scale:
            return f"{int(amount.scaleb(scale, context=_exact_context(amount)))}{suffix}"
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
