from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from services.domain import quantities
from services.domain.quantities import (
    InvalidQuantity,
    compare_quantities,
    decimal_places,
    format_quantity,
    is_quantity,
    parse_quantity,
    same_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", Decimal(0)),
        ("1", Decimal(1)),
        ("42", Decimal(42)),
        ("1Ki", Decimal(1024)),
        ("1Mi", Decimal(1024**2)),
        ("1Gi", Decimal(1024**3)),
        ("10Gi", Decimal(10 * 1024**3)),
        ("1Ti", Decimal(1024**4)),
        ("64Ti", Decimal(64 * 1024**4)),
        ("1Pi", Decimal(1024**5)),
        ("1Ei", Decimal(1024**6)),
        ("1.5Gi", Decimal(1536 * 1024**2)),
        ("0.5Mi", Decimal(512 * 1024)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("100m", Decimal("0.1")),
        ("500m", Decimal("0.5")),
        ("1500m", Decimal("1.5")),
        ("1u", Decimal("0.000001")),
        ("1n", Decimal("0.000000001")),
        ("0.7", Decimal("0.7")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e+3", Decimal(1000)),
        ("5e-1", Decimal("0.5")),
        ("2.5e2", Decimal(250)),
        ("+1Gi", Decimal(1024**3)),
        ("007", Decimal(7)),
    ],
)
def test_valid_quantities_parse_to_their_exact_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value
    assert is_quantity(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        " 1Gi",
        "1Gi ",
        "1 Gi",
        "10GB",
        "1gi",
        "1GI",
        "1K",
        "1Kib",
        "Gi",
        "-1Gi",
        "-0.5",
        "1.5.2Gi",
        ".",
        "..5",
        "1e",
        "1e1.5",
        "1ee3",
        "1e3Gi",
        "1Gi1",
        "0x10",
        "1_000",
        "1,5Gi",
        "infinity",
        "NaN",
        "\u0661Gi",  # an Arabic-Indic digit: not ASCII
        "1e99999999999",
    ],
)
def test_garbage_is_rejected(text: str) -> None:
    with pytest.raises(InvalidQuantity):
        parse_quantity(text)
    assert not is_quantity(text)


@pytest.mark.parametrize("value", [None, 1, 1.5, b"1Gi", ["1Gi"]])
def test_non_strings_are_not_quantities(value: object) -> None:
    assert not is_quantity(value)
    with pytest.raises(InvalidQuantity):
        parse_quantity(value)  # type: ignore[arg-type]


def test_long_fractions_are_exact_not_rounded() -> None:
    text = "1.0000000000000000000000000000000001Ei"
    with localcontext() as exact:
        exact.prec = 100
        expected = Decimal(2**60) + Decimal(2**60).scaleb(-34)
    assert parse_quantity(text) == expected
    assert parse_quantity(text) > parse_quantity("1Ei")


def test_different_spellings_of_one_size_are_the_same_quantity() -> None:
    assert same_quantity("1Gi", "1024Mi")
    assert same_quantity("1Gi", "1073741824")
    assert same_quantity("0.5", "500m")
    assert same_quantity("1k", "1e3")
    assert not same_quantity("1G", "1Gi")
    assert same_quantity(None, None)
    assert not same_quantity(None, "1Gi")
    assert not same_quantity("1Gi", None)


def test_comparison_is_by_value() -> None:
    assert compare_quantities("10Gi", "20Gi") == -1
    assert compare_quantities("20Gi", "10Gi") == 1
    assert compare_quantities("10240Mi", "10Gi") == 0
    assert compare_quantities("1G", "1Gi") == -1
    assert compare_quantities("999m", "1") == -1


def test_comparison_of_garbage_raises() -> None:
    with pytest.raises(InvalidQuantity):
        compare_quantities("10GB", "1Gi")


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Decimal(0), True, "0"),
        (Decimal(1024**3), True, "1Gi"),
        (Decimal(10 * 1024**3), True, "10Gi"),
        (Decimal(1536 * 1024**2), True, "1536Mi"),
        (Decimal(1024**6), True, "1Ei"),
        (Decimal(10**9), True, "1G"),
        (Decimal(10**18), True, "1E"),
        (Decimal(1024**3), False, "1073741824"),
        (Decimal(2000), False, "2k"),
        (Decimal(7), False, "7"),
        (Decimal("0.5"), False, "500m"),
        (Decimal("0.0005"), False, "500u"),
        (Decimal("0.000000003"), False, "3n"),
        (3, True, "3"),
    ],
)
def test_format_gives_a_short_canonical_spelling(
    value: Decimal | int, binary: bool, text: str
) -> None:
    assert format_quantity(value, binary=binary) == text
    assert parse_quantity(text) == Decimal(value)


def test_format_refuses_what_kubernetes_cannot_express() -> None:
    with pytest.raises(InvalidQuantity):
        format_quantity(Decimal(-1))
    with pytest.raises(InvalidQuantity):
        format_quantity(Decimal("0.0000000001"))


@pytest.mark.parametrize("text", ["1Gi", "123Mi", "1.5Gi", "250m", "64Ti", "3", "12345678"])
def test_parse_and_format_round_trip(text: str) -> None:
    value = parse_quantity(text)
    assert parse_quantity(format_quantity(value)) == value


def test_suffix_tables_match_kubernetes() -> None:
    assert quantities.BINARY_SUFFIXES["Ki"] == 1024
    assert quantities.BINARY_SUFFIXES["Ei"] == 2**60
    assert set(quantities.DECIMAL_SUFFIXES) == {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"}


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("0", 0),
        ("10Gi", 0),
        ("1.5Gi", 0),
        ("1e3", 0),
        ("1.50", 1),
        ("100m", 1),
        ("1m", 3),
        ("100.5m", 4),
        ("1e40", 0),
        ("1e-40", 40),
        ("1e2147483647", 0),
        ("1e-2147483647", 2147483647),
    ],
)
def test_decimal_places_are_exact_for_any_exponent(text: str, places: int) -> None:
    assert decimal_places(parse_quantity(text)) == places


def test_huge_and_tiny_values_format_in_exponent_form() -> None:
    assert format_quantity(parse_quantity("1e45")) == "1e45"
    assert format_quantity(parse_quantity("25e2147483640")) == "25e2147483640"
    assert format_quantity(parse_quantity("1e-45")) == "1e-45"
    assert parse_quantity(format_quantity(parse_quantity("1e45"))) == parse_quantity("1e45")
