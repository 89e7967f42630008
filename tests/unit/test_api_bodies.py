"""Problem documents and JSON bodies, without a server."""

from __future__ import annotations

import pytest

from services.api import bodies, problems, representations
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


def test_timestamps_are_utc_with_a_z() -> None:
    import datetime as dt

    offset = dt.timezone(dt.timedelta(hours=2))
    value = dt.datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=offset)
    assert representations.timestamp(value) == "2026-01-01T10:00:00.000005Z"
    assert representations.timestamp(None) is None
