"""Query-string parsing of list endpoints: limits, filters and opaque cursors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
from starlette.datastructures import QueryParams
from starlette.requests import Request

from services.api import query_params
from services.api.problems import Problem


def slug(exc: pytest.ExceptionInfo[Problem]) -> str:
    return exc.value.slug


def test_limit_defaults_to_20_and_accepts_1_to_100() -> None:
    assert query_params.limit(QueryParams("")) == 20
    assert query_params.limit(QueryParams("limit=1")) == 1
    assert query_params.limit(QueryParams("limit=100")) == 100


@pytest.mark.parametrize("raw", ["0", "101", "-1", "abc", "1.5", ""])
def test_a_limit_outside_1_to_100_or_not_an_integer_is_an_invalid_query(raw: str) -> None:
    with pytest.raises(Problem) as exc:
        query_params.limit(QueryParams({"limit": raw}))
    assert slug(exc) == "invalid-query"
    assert exc.value.status == 400
    assert exc.value.extensions["errors"][0]["field"] == "limit"


def request_for(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query})


def test_unknown_parameters_are_refused_by_name() -> None:
    params = query_params.check_known(request_for(b"limit=2&cursor=x"), ("limit", "cursor"))
    assert params["limit"] == "2"
    with pytest.raises(Problem) as exc:
        query_params.check_known(request_for(b"limit=2&stat=ready"), ("limit", "state"))
    assert exc.value.extensions["errors"] == [
        {"field": "stat", "code": "unknown_field", "message": "unknown; allowed: limit, state"}
    ]


def test_an_endpoint_without_parameters_refuses_any() -> None:
    assert query_params.check_known(request_for(b"")) == QueryParams("")
    with pytest.raises(Problem) as exc:
        query_params.check_known(request_for(b"x=1"))
    assert exc.value.extensions["errors"][0]["message"] == "unknown; allowed: none"


def test_a_time_and_id_cursor_round_trips_exactly() -> None:
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    ident = uuid.uuid4()
    cursor = query_params.encode_cursor("databases", {"t": at.isoformat(), "i": str(ident)})
    assert "=" not in cursor
    assert query_params.time_id_cursor(QueryParams({"cursor": cursor}), "databases") == (at, ident)


def test_a_sequence_cursor_round_trips() -> None:
    cursor = query_params.encode_cursor("operations", {"n": 42})
    assert query_params.sequence_cursor(QueryParams({"cursor": cursor}), "operations") == 42
    assert query_params.sequence_cursor(QueryParams(""), "operations") is None


def _b64(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "***",
        _b64([1, 2]),
        _b64({"k": "events", "n": 1}),  # another list's cursor
        _b64({"k": "operations", "n": -1}),
        _b64({"k": "operations", "n": True}),
        _b64({"k": "operations", "n": "7"}),
    ],
)
def test_a_cursor_this_list_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(Problem) as exc:
        query_params.sequence_cursor(QueryParams({"cursor": cursor}), "operations")
    assert slug(exc) == "invalid-cursor"


@pytest.mark.parametrize(
    "position", [{"t": "yesterday", "i": str(uuid.uuid4())}, {"t": "2026-01-01T00:00:00"}]
)
def test_a_time_cursor_with_a_bad_position_is_refused(position: dict[str, str]) -> None:
    cursor = query_params.encode_cursor("databases", position)
    with pytest.raises(Problem) as exc:
        query_params.time_id_cursor(QueryParams({"cursor": cursor}), "databases")
    assert slug(exc) == "invalid-cursor"


def test_choices_and_identifiers_are_checked() -> None:
    assert query_params.choice(QueryParams("state=ready"), "state", ("ready", "failed")) == "ready"
    assert query_params.choice(QueryParams(""), "state", ("ready",)) is None
    with pytest.raises(Problem):
        query_params.choice(QueryParams("state=asleep"), "state", ("ready",))
    ident = uuid.uuid4()
    assert query_params.identifier(QueryParams({"database": str(ident)}), "database") == ident
    with pytest.raises(Problem):
        query_params.identifier(QueryParams("database=12"), "database")
