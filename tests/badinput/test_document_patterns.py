"""The patterns the OpenAPI document states agree with the validators behind them.

schemathesis trusts the document: whatever matches a pattern there is "valid" and must not
be refused as malformed. So every string the quantity pattern admits must parse as a
quantity, and the name pattern must admit exactly the names the domain accepts (up to the
length rule, which the document states as maxLength).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from services.api import openapi, openapi_schemas
from services.domain import engines, naming, quantities

PROPERTY_SETTINGS = settings(max_examples=300, derandomize=True, database=None)


def ecma(pattern: str) -> re.Pattern[str]:
    """A document pattern as JSON Schema (ECMA-262) reads it: `$` is the very end, where
    Python's `$` would also match before a final newline."""
    assert pattern.endswith("$")
    return re.compile(pattern[:-1] + r"\Z")


QUANTITY = ecma(openapi_schemas.QUANTITY_PATTERN)
NAME = ecma(openapi_schemas.NAME["pattern"])


@PROPERTY_SETTINGS
@given(st.from_regex(QUANTITY))
def test_every_quantity_the_document_admits_parses(text: str) -> None:
    # parse_quantity raises InvalidQuantity on what it refuses (a failure here)
    assert quantities.parse_quantity(text) >= 0


@PROPERTY_SETTINGS
@given(st.text(alphabet="0123456789.+-eEKMGTPEinumk", max_size=12))
def test_the_quantity_pattern_admits_no_text_the_parser_refuses(text: str) -> None:
    if QUANTITY.search(text):
        assert quantities.parse_quantity(text) >= 0


@PROPERTY_SETTINGS
@given(st.text(alphabet="abcz09-_A. ", max_size=50))
def test_the_name_pattern_and_length_say_what_the_domain_says(name: str) -> None:
    admitted = bool(NAME.search(name)) and len(name) <= openapi_schemas.NAME["maxLength"]
    assert admitted == (naming.check_name(name) == [])


def test_the_create_and_patch_schemas_carry_the_patterns() -> None:
    schemas = openapi.document()["components"]["schemas"]
    create, patch = schemas["DatabaseCreate"]["properties"], schemas["DatabasePatch"]["properties"]
    assert create["name"]["pattern"] == patch["name"]["pattern"] == openapi_schemas.NAME["pattern"]
    for fields in (create, patch):
        resources = fields["resources"]["properties"]
        for quantity in (fields["storage"], resources["cpu"], resources["memory"]):
            assert quantity["pattern"] == openapi_schemas.QUANTITY_PATTERN
        assert fields["replicas"]["maximum"] == max(
            spec.max_replicas for spec in engines.ENGINES.values()
        )
