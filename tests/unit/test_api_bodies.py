"""Problem documents and JSON bodies, without a server."""

from __future__ import annotations

import pytest

from services.api import bodies, encoding, problems
from services.api.problems import Problem


def test_a_problem_renders_rfc_9457_members_and_its_extensions() -> None:
    problem = Problem("name-taken", "a database named 'x' exists", name="x")
    assert problem.status == 409
    assert problem.body("/v1/databases") == {
        "type": "https://dbaas.dev/problems/name-taken",
        "title": "Name already taken",
        "status": 409,
        "detail": "a database named 'x' exists",
        "instance": "/v1/databases",
        "name": "x",
    }


def test_problem_type_slugs_are_unique_urls_with_consistent_statuses() -> None:
    for slug, (status, title) in problems.TYPES.items():
        assert slug == slug.lower() and " " not in slug
        assert 400 <= status <= 599
        assert title


@pytest.mark.parametrize("raw", [b"", b"  \n", b"{", b"[1,", b"\xff", b"nan-json"])
def test_unparseable_bodies_are_malformed_json(raw: bytes) -> None:
    with pytest.raises(Problem) as exc:
        bodies.parse(raw)
    assert exc.value.slug == "malformed-json"
    assert exc.value.status == 400


def test_any_json_document_parses_and_validation_decides_the_rest() -> None:
    assert bodies.parse(b'{"a": [1, null]}') == {"a": [1, None]}
    assert bodies.parse(b"[]") == []


def test_ids_and_utc_timestamps_are_written_as_rfc_3339_strings() -> None:
    import datetime as dt
    import uuid
    import zoneinfo

    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    at = dt.datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=zoneinfo.ZoneInfo("Etc/UTC"))
    document = {"id": ident, "at": at, "none": None}
    assert encoding.dumps(document) == (
        b'{"id":"12345678-1234-5678-1234-567812345678",'
        b'"at":"2026-01-01T12:00:00.000005Z","none":null}'
    )
    assert encoding.plain(document) == {
        "id": "12345678-1234-5678-1234-567812345678",
        "at": "2026-01-01T12:00:00.000005Z",
        "none": None,
    }


def test_sorted_bodies_are_byte_identical_whatever_the_key_order() -> None:
    assert encoding.dumps({"b": 1, "a": {"d": 2, "c": 3}}, sort_keys=True) == encoding.dumps(
        {"a": {"c": 3, "d": 2}, "b": 1}, sort_keys=True
    )
