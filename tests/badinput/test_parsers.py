"""Regression tests, without a server, for the parsers the bad-input suite broke.

Each input here used to escape as an exception other than the one its caller handles, so
the API answered 500 (found by tests/badinput/test_bodies.py and test_requests.py):
- a body with a 5,000-digit number (ValueError from int()) or nested 30,000 deep
  (RecursionError) out of `bodies.parse`;
- a quantity with a 5,000-digit exponent (ValueError) out of `quantities.parse_quantity`;
- a cursor nested 5,000 deep (RecursionError) out of the cursor decoder;
- a `name` filter holding NUL, which PostgreSQL text cannot store (DataError).
"""

from __future__ import annotations

import base64

import pytest
from starlette.datastructures import QueryParams

from services.api import bodies, query_params
from services.api.problems import Problem
from services.domain import quantities


@pytest.mark.parametrize(
    "raw",
    [
        b'{"replicas": ' + b"9" * 5000 + b"}",
        b'{"replicas": NaN}',
        b'{"replicas": -Infinity}',
        b"[1e400]",
        b'{"name": "\\udc00"}',
        '{"name": "orders"}'.encode("utf-16"),
    ],
    ids=["5000 digits", "NaN", "-Infinity", "1e400", "lone surrogate", "utf-16"],
)
def test_bodies_that_are_not_rfc_8259_json_are_malformed(raw: bytes) -> None:
    with pytest.raises(Problem) as caught:
        bodies.parse(raw)
    assert caught.value.slug == "malformed-json"


def test_json_nested_past_the_depth_bound_is_refused_before_parsing() -> None:
    with pytest.raises(Problem) as caught:
        bodies.parse(b"[" * 30_000 + b"]" * 30_000)
    assert caught.value.slug == "body-too-deep"


def test_json_nested_as_deep_as_a_client_would_nest_still_parses() -> None:
    assert bodies.parse(b'{"a": ' * 100 + b"1" + b"}" * 100) is not None


def test_an_integer_past_64_bits_parses_as_a_number_that_validation_then_refuses() -> None:
    assert bodies.parse(str(2**64 + 1).encode()) == float(2**64 + 1)
    assert bodies.parse(str(2**63).encode()) == 2**63


@pytest.mark.parametrize("text", ["1e" + "9" * 5000, "1e-" + "0" * 4999 + "1x", "1e2147483648"])
def test_a_quantity_with_an_absurd_exponent_is_invalid_not_a_crash(text: str) -> None:
    with pytest.raises(quantities.InvalidQuantity):
        quantities.parse_quantity(text)


def test_a_long_but_small_exponent_still_parses() -> None:
    assert quantities.parse_quantity("1e" + "0" * 5000 + "3") == 1000


def test_a_deeply_nested_cursor_is_an_invalid_cursor() -> None:
    raw = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()
    with pytest.raises(Problem) as caught:
        query_params.sequence_cursor(QueryParams({"cursor": raw}), "operations")
    assert caught.value.slug == "invalid-cursor"


@pytest.mark.parametrize("raw", [" 5", "+5", "1_0", "\u0665", "9" * 5000, "0" * 5000])
def test_limit_takes_plain_ascii_digits_only(raw: str) -> None:
    with pytest.raises(Problem) as caught:
        query_params.limit(QueryParams({"limit": raw}))
    assert caught.value.slug == "invalid-query"


def test_limit_with_leading_zeros_is_still_its_number() -> None:
    assert query_params.limit(QueryParams({"limit": "0" * 5000 + "7"})) == 7


def test_a_text_filter_holding_nul_is_an_invalid_query() -> None:
    with pytest.raises(Problem) as caught:
        query_params.text(QueryParams({"name": "a\x00b"}), "name")
    assert caught.value.extensions["errors"][0]["field"] == "name"
