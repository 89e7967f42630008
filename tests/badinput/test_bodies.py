"""Hostile request bodies: the API refuses each with the right problem, and nothing is written.

Only what tests/integration/test_api_errors.py and test_api_databases.py do not already
prove over HTTP (413 by Content-Length and streamed, 415, unparsable JSON, storage shrink,
DoNotTerminate): JSON the stdlib parses but no one should send (5,000-digit numbers, deep
nesting, NaN), bodies that are not objects, hostile names, replica counts and quantities
at and past every edge, unknown engines and versions, and the upgrade paths the catalog
refuses. Against the simulated cluster's catalog, over real HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.clients import postgres
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
    spec,
)

JSON = {"Content-Type": "application/json"}
TABLES = ("projects", "api_keys", "databases", "operations", "events", "idempotency_keys")


def raw_post(client: httpx.Client, body: bytes, path: str = "/v1/databases") -> httpx.Response:
    return client.post(path, content=body, headers=JSON)


def field_codes(response: httpx.Response) -> dict[str, str]:
    problem = assert_problem(response, 422, "validation-failed")
    return {error["field"]: error["code"] for error in problem["errors"]}


def row_counts(database_url: str) -> dict[str, int]:
    with postgres.connect(database_url) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"])  # type: ignore[index]
            for table in TABLES
        }


# -- JSON the parser must refuse ---------------------------------------------------------

HOSTILE_JSON = {
    "a 5000-digit integer": b'{"replicas": ' + b"9" * 5000 + b"}",
    "a 5000-digit negative integer": b'{"replicas": -' + b"9" * 5000 + b"}",
    "NaN": b'{"replicas": NaN}',
    "Infinity": b'{"replicas": Infinity}',
    "1e400 (past the largest double)": b'{"replicas": 1e400}',
    "-Infinity": b'{"replicas": -Infinity}',
    "a lone surrogate escape": b'{"name": "\\ud800"}',
    "a NUL byte in the raw text": b'{"name": "a\x00b"}',
    "UTF-16 with a BOM": '{"name": "orders"}'.encode("utf-16"),
}


@pytest.mark.parametrize("body", list(HOSTILE_JSON.values()), ids=list(HOSTILE_JSON))
def test_json_that_python_would_parse_but_is_not_json_is_400(
    offline_api: LiveApi, body: bytes
) -> None:
    with offline_api.client(offline_api.key()) as client:
        created = raw_post(client, body)
        patched = client.patch(
            "/v1/databases/00000000-0000-0000-0000-000000000001", content=body, headers=JSON
        )
    assert_problem(created, 400, "malformed-json")
    assert_problem(patched, 400, "malformed-json")


DEEP_JSON = {
    "arrays nested 30000 deep": b"[" * 30_000 + b"]" * 30_000,
    "objects nested 10000 deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "arrays nested 980 deep": b"[" * 980 + b"]" * 980,
}


@pytest.mark.parametrize("body", list(DEEP_JSON.values()), ids=list(DEEP_JSON))
def test_json_nested_deeper_than_any_body_of_the_api_is_422_before_parsing(
    offline_api: LiveApi, body: bytes
) -> None:
    # Was 400 malformed-json from orjson's 1,024-level cap: 980 levels parsed, then the
    # idempotency hash recursed over them (a 500). Now refused by depth before any parse.
    with offline_api.client(offline_api.key()) as client:
        created = raw_post(client, body)
        patched = client.patch(
            "/v1/databases/00000000-0000-0000-0000-000000000001", content=body, headers=JSON
        )
    assert_problem(created, 422, "body-too-deep")
    assert_problem(patched, 422, "body-too-deep")


@pytest.mark.parametrize(
    "body", [b"[]", b'["orders"]', b'"orders"', b"42", b"null", b"true"], ids=str
)
def test_json_that_is_not_an_object_is_one_422_on_the_whole_body(api: LiveApi, body: bytes) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders")
        created = raw_post(client, body)
        patched = client.patch(f"/v1/databases/{database['id']}", content=body, headers=JSON)
        after = client.get(f"/v1/databases/{database['id']}").json()
    for response in (created, patched):
        problem = assert_problem(response, 422, "validation-failed")
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [("", "invalid_type")]
    assert after["generation"] == 1


# -- names -------------------------------------------------------------------------------

HOSTILE_NAMES = {
    "sql injection": "orders'; DROP TABLE databases;--",
    "sql comment": "orders--",
    "quote": "o'rders",
    "non-ascii letter": "ørders",
    "emoji": "orders-\U0001f600",
    "right-to-left override": "orders\u202etxt",
    "arabic": "\u0637\u0644\u0628\u0627\u062a",
    "nul byte": "orders\x00",
    "zero width space": "or\u200bders",
    "fullwidth letters": "\uff4f\uff52\uff44\uff45\uff52\uff53",
    "uppercase": "Orders",
    "leading digit": "1orders",
    "trailing hyphen": "orders-",
    "dots": "orders.prod",
    "empty": "",
    "43 characters": "o" * 43,
    "a megabyte-long name": "o" * 60_000,
}


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_a_hostile_name_is_422_and_every_table_stays_as_it_was(api: LiveApi, name: str) -> None:
    with api.client(api.key()) as client:
        create(client, "orders")
        before = row_counts(api.database_url)
        response = client.post("/v1/databases", json=spec(name))
        listed = client.get("/v1/databases").json()["items"]
    assert field_codes(response)["name"] in {"invalid_name", "name_too_long"}
    assert row_counts(api.database_url) == before
    assert [db["name"] for db in listed] == ["orders"]


def test_a_hostile_name_filter_finds_nothing_and_breaks_nothing(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        create(client, "orders")
        answers = {
            name: client.get("/v1/databases", params={"name": name})
            for name in HOSTILE_NAMES.values()
            if name
        }
        listed = client.get("/v1/databases").json()["items"]
    nul = answers.pop(HOSTILE_NAMES["nul byte"])
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        assert response.json()["items"] == [], name
    problem = assert_problem(nul, 400, "invalid-query")  # PostgreSQL text cannot hold NUL
    assert problem["errors"][0]["field"] == "name"
    assert [db["name"] for db in listed] == ["orders"]


# -- replicas ----------------------------------------------------------------------------

REPLICAS: dict[str, tuple[bytes, str]] = {
    "zero": (b"0", "out_of_range"),
    "negative": (b"-1", "out_of_range"),
    "ten (above every engine's maximum)": (b"10", "out_of_range"),
    "2**31": (str(2**31).encode(), "out_of_range"),
    "2**63": (str(2**63).encode(), "out_of_range"),
    "2**64 - 1": (str(2**64 - 1).encode(), "out_of_range"),
    "-2**63": (str(-(2**63)).encode(), "out_of_range"),
    "2**64 + 1 (read as a float)": (str(2**64 + 1).encode(), "invalid_type"),
    "1e308": (b"1e308", "invalid_type"),
    "3.0": (b"3.0", "invalid_type"),
    "2.5": (b"2.5", "invalid_type"),
    "a string": (b'"3"', "invalid_type"),
    "true": (b"true", "invalid_type"),
    "an array": (b"[3]", "invalid_type"),
    "an object": (b'{"n": 3}', "invalid_type"),
}


@pytest.mark.parametrize(("raw", "code"), list(REPLICAS.values()), ids=list(REPLICAS))
def test_replicas_out_of_range_or_of_the_wrong_type_are_422(
    api: LiveApi, raw: bytes, code: str
) -> None:
    create_body = json.dumps(spec("fresh"))[:-1].encode() + b', "replicas": ' + raw + b"}"
    with api.client(api.key()) as client:
        database = create(client, "orders")
        created = raw_post(client, create_body)
        patched = client.patch(
            f"/v1/databases/{database['id']}",
            content=b'{"replicas": ' + raw + b"}",
            headers=JSON,
        )
        after = client.get(f"/v1/databases/{database['id']}").json()
    assert field_codes(created) == {"replicas": code}
    assert field_codes(patched) == {"replicas": code}
    assert after["replicas"] == 1
    assert after["generation"] == 1


def test_replicas_outside_the_engines_own_range_are_422(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        mysql = client.post(
            "/v1/databases", json=spec("m", engine="mysql", version="8.4.8", replicas=2)
        )
        mongo = client.post(
            "/v1/databases", json=spec("g", engine="mongodb", version="8.0.17", replicas=9)
        )
    assert field_codes(mysql) == {"replicas": "out_of_range"}
    assert "group replication" in mysql.json()["errors"][0]["message"]
    assert field_codes(mongo) == {"replicas": "out_of_range"}
    assert "replica set" in mongo.json()["errors"][0]["message"]


# -- quantities --------------------------------------------------------------------------

QUANTITIES: dict[str, tuple[Any, str]] = {
    "bytes spelled GB": ("10GB", "invalid_quantity"),
    "a word": ("ten", "invalid_quantity"),
    "empty": ("", "invalid_quantity"),
    "negative": ("-10Gi", "invalid_quantity"),
    "surrounding spaces": (" 10Gi ", "invalid_quantity"),
    "two suffixes": ("10GiGi", "invalid_quantity"),
    "lower-case binary suffix": ("10gi", "invalid_quantity"),
    "an exponent past 32 bits": ("1e9999999999", "invalid_quantity"),
    "a 5000-digit exponent": ("1e" + "9" * 5000, "invalid_quantity"),
    "a fraction of a byte": ("0.5", "invalid_quantity"),
    "zero": ("0", "out_of_range"),
    "too small": ("1Mi", "out_of_range"),
    "too large": ("65Ti", "out_of_range"),
    "a 5000-digit number": ("9" * 5000, "out_of_range"),
    "a number": (10, "invalid_type"),
    "null on create": (None, "required"),
}


@pytest.mark.parametrize(("value", "code"), list(QUANTITIES.values()), ids=list(QUANTITIES))
def test_a_malformed_or_out_of_range_storage_is_422(api: LiveApi, value: Any, code: str) -> None:
    with api.client(api.key()) as client:
        response = client.post("/v1/databases", json=spec("orders", storage=value))
    assert field_codes(response) == {"storage": code}


@pytest.mark.parametrize(
    ("resources", "field", "code"),
    [
        ({"cpu": "1.5m"}, "resources.cpu", "invalid_quantity"),
        ({"cpu": "50m"}, "resources.cpu", "out_of_range"),
        ({"cpu": "65"}, "resources.cpu", "out_of_range"),
        ({"cpu": 1}, "resources.cpu", "invalid_type"),
        ({"memory": "1e" + "9" * 5000}, "resources.memory", "invalid_quantity"),
        ({"memory": "100Mi"}, "resources.memory", "out_of_range"),
        ({"gpu": "1"}, "resources.gpu", "unknown_field"),
        ("1 cpu", "resources", "invalid_type"),
    ],
    ids=str,
)
def test_malformed_resources_are_422_on_create_and_patch(
    api: LiveApi, resources: Any, field: str, code: str
) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders")
        created = client.post("/v1/databases", json=spec("fresh", resources=resources))
        patched = client.patch(f"/v1/databases/{database['id']}", json={"resources": resources})
    assert field_codes(created) == {field: code}
    assert field_codes(patched) == {field: code}


def test_storage_may_not_shrink_even_when_spelled_differently(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders", storage="10Gi")
        path = f"/v1/databases/{database['id']}"
        shrink = client.patch(path, json={"storage": "10737418239"})  # 10Gi - 1 byte
        same = client.patch(path, json={"storage": "10240Mi"})  # 10Gi in other words
        after = client.get(path).json()
    assert field_codes(shrink) == {"storage": "storage_shrink"}
    assert same.status_code == 202, same.text
    assert same.json()["operations"] == []
    assert after["storage"] == "10Gi"
    assert after["generation"] == 1


# -- engines and versions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"engine": "oracle"}, {"engine": "unknown_engine"}),
        ({"engine": "Postgres"}, {"engine": "unknown_engine"}),
        ({"engine": ""}, {"engine": "unknown_engine"}),
        ({"engine": None}, {"engine": "required"}),
        ({"engine": ["postgres"]}, {"engine": "invalid_type"}),
        ({"version": "99.0"}, {"version": "unknown_version"}),
        ({"version": "16.13 "}, {"version": "unknown_version"}),
        ({"version": "8.4.8"}, {"version": "unknown_version"}),  # a MySQL version
        ({"version": "15.3"}, {"version": "deprecated_version"}),
        ({"version": 16.13}, {"version": "invalid_type"}),
    ],
    ids=str,
)
def test_an_unknown_engine_or_version_is_422(
    api: LiveApi, overrides: dict[str, Any], expected: dict[str, str]
) -> None:
    with api.client(api.key()) as client:
        response = client.post("/v1/databases", json=spec("orders", **overrides))
    assert field_codes(response) == expected


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("16.12", "downgrades are not supported"),
        ("18.3", "is not an allowed update target"),  # 16.x may go up to 17.9
        ("17.9-bookworm", "cannot change the base OS"),
        ("percona-17.7", "cannot change the distribution"),
        ("15.3", "is deprecated"),
    ],
)
def test_an_upgrade_the_catalog_does_not_allow_is_422_and_changes_nothing(
    api: LiveApi, target: str, reason: str
) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders", version="16.13")
        path = f"/v1/databases/{database['id']}"
        response = client.patch(path, json={"version": target})
        after = client.get(path).json()
        operations = client.get(f"{path}/operations").json()["items"]
    problem = assert_problem(response, 422, "validation-failed")
    [error] = problem["errors"]
    assert error["field"] == "version"
    assert error["code"] in {"upgrade_not_allowed", "deprecated_version"}
    assert reason in error["message"]
    assert after["version"] == "16.13"
    assert [op["type"] for op in operations] == ["create"]


def test_the_upgrade_the_catalog_allows_is_accepted(api: LiveApi) -> None:
    """The control case of the refusals above: within the constraints it works."""
    with api.client(api.key()) as client:
        database = create(client, "orders", version="16.13")
        response = client.patch(f"/v1/databases/{database['id']}", json={"version": "17.9"})
    assert response.status_code == 202, response.text
    assert [op["type"] for op in response.json()["operations"]] == ["upgrade"]


def test_an_upgrade_across_engines_through_a_patch_is_refused(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders", version="16.13")
        response = client.patch(
            f"/v1/databases/{database['id']}", json={"engine": "mysql", "version": "8.4.8"}
        )
    assert field_codes(response) == {"engine": "immutable", "version": "unknown_version"}


# -- streamed bodies ---------------------------------------------------------------------


def test_a_streamed_create_body_over_the_limit_is_413_and_creates_nothing(
    api: LiveApi,
) -> None:
    limit = api.settings.max_body_bytes

    def chunks() -> Any:
        yield json.dumps(spec("orders"))[:-1].encode() + b', "padding": "'
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    with api.client(api.key()) as client:
        response = client.post("/v1/databases", content=chunks(), headers=JSON)
        listed = client.get("/v1/databases").json()["items"]
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    # The unread rest of the body ends the connection; the client is told, so the request
    # after it goes out on a new connection instead of into a closing one.
    assert response.headers["connection"] == "close"
    assert listed == []


def test_a_create_announced_over_the_limit_is_413_and_closes_the_connection(
    api: LiveApi,
) -> None:
    body = json.dumps(spec("orders", padding="x" * api.settings.max_body_bytes)).encode()
    with api.client(api.key()) as client:
        response = raw_post(client, body)
        listed = client.get("/v1/databases")
    assert_problem(response, 413, "payload-too-large")
    assert response.headers["connection"] == "close"
    assert listed.json()["items"] == []
