"""Malformed requests answer problem+json: 400, 404, 405, 413, 415 (no cluster needed).

These run against the API without a cluster: every refusal here happens before the catalog
is consulted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.api_harness import (
    LiveApi,
    assert_problem,
    spec,
    wait_until,
)


def test_an_unknown_route_is_a_404_problem(offline_api: LiveApi) -> None:
    with offline_api.client() as client:
        problem = assert_problem(client.get("/v2/nothing"), 404, "not-found")
    assert "/v2/nothing" in problem["detail"]


def test_a_wrong_method_is_a_405_problem_naming_every_allowed_method(
    offline_api: LiveApi,
) -> None:
    with offline_api.client(offline_api.key()) as client:
        response = client.put("/v1/databases")
        on_item = client.post(f"/v1/databases/{uuid.uuid4()}")
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert_problem(on_item, 405, "method-not-allowed")
    assert on_item.headers["allow"] == "DELETE, GET, HEAD, PATCH"


def test_a_body_announced_larger_than_the_limit_is_413(offline_api: LiveApi) -> None:
    limit = offline_api.settings.max_body_bytes
    body = b'{"name": "' + b"x" * limit + b'"}'
    with offline_api.client(offline_api.key()) as client:
        response = client.post(
            "/v1/databases", content=body, headers={"Content-Type": "application/json"}
        )
    problem = assert_problem(response, 413, "payload-too-large")
    assert problem["max_bytes"] == limit


def test_a_streamed_body_without_length_is_cut_off_at_the_limit_with_413(
    offline_api: LiveApi,
) -> None:
    limit = offline_api.settings.max_body_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(limit // 1024 + 64):
            sent += 1024
            yield b" " * 1024

    with offline_api.client(offline_api.key()) as client:
        response = client.patch(
            f"/v1/databases/{uuid.uuid4()}",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(offline_api: LiveApi, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with offline_api.client(offline_api.key()) as client:
        response = client.post("/v1/databases", content=b'{"name": "x"}', headers=headers)
    assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"a": 1} trailing'])
def test_a_body_that_does_not_parse_is_400(offline_api: LiveApi, body: bytes) -> None:
    with offline_api.client(offline_api.key()) as client:
        response = client.post(
            "/v1/databases", content=body, headers={"Content-Type": "application/json"}
        )
    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("limit=abc", "limit", "invalid_type"),
        ("limit=0", "limit", "out_of_range"),
        ("limit=101", "limit", "out_of_range"),
        ("engine=oracle", "engine", "invalid_choice"),
        ("state=sleeping", "state", "invalid_choice"),
        ("name=", "name", "invalid_type"),
        ("colour=blue", "colour", "unknown_field"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(
    offline_api: LiveApi, query: str, field: str, code: str
) -> None:
    with offline_api.client(offline_api.key()) as client:
        response = client.get(f"/v1/databases?{query}")
    problem = assert_problem(response, 400, "invalid-query")
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["code"] == code


def test_operation_filters_are_checked_too(offline_api: LiveApi) -> None:
    with offline_api.client(offline_api.key()) as client:
        bad_id = client.get("/v1/operations", params={"database": "nope"})
        bad_state = client.get("/v1/operations", params={"state": "creating"})
    assert assert_problem(bad_id, 400, "invalid-query")["errors"][0]["field"] == "database"
    assert assert_problem(bad_state, 400, "invalid-query")["errors"][0]["field"] == "state"


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "eyJrIjoib3BlcmF0aW9ucyIsIm4iOjF9"])
def test_a_cursor_this_list_did_not_issue_is_400(offline_api: LiveApi, cursor: str) -> None:
    """Garbage, base64 of non-JSON, and a real operations cursor used on databases."""
    with offline_api.client(offline_api.key()) as client:
        response = client.get("/v1/databases", params={"cursor": cursor})
    assert_problem(response, 400, "invalid-cursor")


def test_a_bad_idempotency_key_is_400(offline_api: LiveApi) -> None:
    with offline_api.client(offline_api.key()) as client:
        response = client.post(
            "/v1/databases", json=spec("orders"), headers={"Idempotency-Key": "k" * 256}
        )
    assert_problem(response, 400, "bad-request")


def test_a_request_log_line_never_carries_the_key(
    offline_api: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    token = offline_api.key()
    caplog.set_level("INFO", logger="services.api.access")
    with offline_api.client(token) as client:
        client.get("/v1/databases", params={"limit": 5})
        client.get("/v1/databases", headers={"Authorization": "Bearer dbaas_abc_leaked"})

    def lines() -> list[str]:  # the server logs after the answer has been sent
        return [r.getMessage() for r in caplog.records if r.name == "services.api.access"]

    wait_until(lambda: len(lines()) == 2)
    first, second = lines()
    assert first.startswith("GET /v1/databases 200 ")
    assert second.startswith("GET /v1/databases 401 ")
    assert token not in caplog.text
    assert "leaked" not in caplog.text
