"""schemathesis over every operation of the OpenAPI document, against the real API.

The real app on a real Hypercorn server (the integration harness), real PostgreSQL and
Redis, the simulated cluster's catalog and Secrets, and a real admin key. schemathesis
generates schema-valid and schema-violating requests for each operation and checks every
answer: no 5xx, status codes, content types, headers and bodies as documented. A second
test chains calls statefully (create → read → patch → restart → cancel → delete) with the
links schemathesis infers from the document.

The schema is the one `GET /openapi.json` serves (a test below holds the two equal); it is
loaded from `openapi.document()` because pytest collects the operations before any server
runs. Generation is derandomized, so CI sees the same requests every run.

One built-in check is replaced: schemathesis' `positive_data_acceptance` expects every
schema-valid request to succeed, but a schema cannot carry the version catalog (which lives
in the cluster), the grow-only rule for storage or the per-engine replica ranges, and a
cursor is opaque. `schema_valid_requests_fail_only_on_rules_a_schema_cannot_state` allows
exactly those refusals, and fails on any other 4xx to a schema-valid request: a structural
refusal (wrong type, unknown field, missing field, malformed header) of a request the
document calls valid means the document and the validator disagree.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from kubernetes import client as k8s
from schemathesis.checks import CheckContext
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.api import openapi, problems
from services.clients import postgres
from services.domain import errors
from services.store import keys
from tests.api_harness import (
    LiveApi,
    create,
)
from tests.fixtures_sim import SimCluster

MAX_EXAMPLES = 50
STATEFUL_EXAMPLES = 30
STATEFUL_STEPS = 10

# A schema-violating request may also meet a failed precondition first (RFC 9110 13.2.1:
# preconditions are evaluated before the content is processed), hence 412 among the refusals.
NEGATIVE_STATUSES = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429]
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260706,
        "generation": {
            "deterministic": True,
            "max-examples": MAX_EXAMPLES,
            "with-security-parameters": False,  # the real key goes in every request
        },
        "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_STATUSES}},
    }
)
# A copy: schemathesis sends the document's examples as bodies, and the hooks here edit a
# case's body in place, which would edit the (cached) document itself.
SCHEMA = schemathesis.openapi.from_dict(copy.deepcopy(openapi.document()), config=CONFIG)
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# What a schema-valid request may still be refused for (see the module docstring).
RULES_BEYOND_THE_SCHEMA = frozenset(
    {
        errors.UNKNOWN_VERSION,  # the catalog lives in the cluster
        errors.DEPRECATED_VERSION,
        errors.UPGRADE_NOT_ALLOWED,
        errors.OUT_OF_RANGE,  # quantity bounds, per-engine replica ranges
        errors.TOPOLOGY_CHANGE,
        errors.STORAGE_SHRINK,
        errors.IMMUTABLE,  # name and engine may only repeat their current value
    }
)
STATE_CONFLICTS = {409, 412}  # name taken, deleting, protected, not cancellable, stale ETag


@dataclasses.dataclass(frozen=True)
class World:
    """A live API with one database (its Secret made) and one pending operation on it."""

    api: LiveApi
    key: str
    database_id: str
    operation_id: str
    newest: dict[str, str]  # engine -> its newest catalog version

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def real_id_for(self, path: str) -> str:
        return self.operation_id if path.startswith("/v1/operations/") else self.database_id


@pytest.fixture(name="world")
def world_fixture(api: LiveApi, sim: SimCluster) -> Iterator[World]:
    key = api.key(role="admin")
    with api.client(key) as client:
        created = create(client, "orders")
        restart = client.post(f"/v1/databases/{created['id']}/restart").json()
        engines = client.get("/v1/engines").json()["items"]
    sim.create_namespace("dbaas-alpha")
    k8s.CoreV1Api(sim.api_client()).create_namespaced_secret(
        "dbaas-alpha",
        {"metadata": {"name": "orders-auth"}, "stringData": {"username": "u", "password": "p"}},
    )
    newest = {engine["name"]: engine["versions"][0]["name"] for engine in engines}
    yield World(api, key, created["id"], restart["operations"][0]["id"], newest)


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def aim_at_real_resources(case: schemathesis.Case, world: World) -> None:
    """A random UUID names nothing (always 404, and the body is never looked at): point
    well-formed ids at the world's real database or operation. Malformed ids stay. Likewise
    a random If-Match never matches (412 before the body is looked at): a schema-valid one
    becomes `*`, which matches any current ETag; a schema-violating one stays."""
    if case.path_parameters and _is_uuid(case.path_parameters.get("id")):
        case.path_parameters["id"] = world.real_id_for(case.operation.path)
    if case.headers and "If-Match" in case.headers and _is_positive(case, ParameterLocation.HEADER):
        case.headers["If-Match"] = "*"


def _is_positive(case: schemathesis.Case, part: ParameterLocation | None = None) -> bool:
    """Whether the case (or one part of it) was generated to be schema-valid."""
    if case.meta is None:
        return False
    component = case.meta.components.get(part) if part is not None else None
    mode = component.mode if component is not None else case.meta.generation.mode
    return mode.is_positive


def make_creatable(case: schemathesis.Case, world: World, *, every: bool = False) -> None:
    """Most generated creates pair an engine with another engine's version (the catalog is
    not in the schema) and stop at 422. For every other positive create (by name length;
    `every`: all of them), keep the generated name, engine and policies and fill in a size
    and version that exist, so the create is accepted and later steps meet a real database."""
    body = case.body
    if (
        case.operation.label != "POST /v1/databases"
        or not _is_positive(case)
        or not isinstance(body, dict)
        or (len(str(body.get("name", ""))) % 2 and not every)
    ):
        return
    body.update(version=world.newest[body["engine"]], storage="1Gi", replicas=1)
    body.pop("resources", None)


def schema_valid_requests_fail_only_on_rules_a_schema_cannot_state(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status in STATE_CONFLICTS or status in (401, 403, 404):
        return None
    problem = response.json() if response.headers.get("content-type") else {}
    kind = str(problem.get("type", "")).removeprefix(problems.TYPE_BASE)
    if status == 400 and kind == "invalid-cursor":
        return None  # an opaque cursor: only the ones a list returned are valid
    if status == 422 and kind == "idempotency-key-reused":
        return None
    if status == 422 and kind == "validation-failed":
        unexplained = [
            error
            for error in problem.get("errors", [])
            if error["code"] not in RULES_BEYOND_THE_SCHEMA
            and not _beyond_json_schema(error, case.body)
        ]
        if not unexplained:
            return None
    raise AssertionError(
        f"a request the document calls valid was refused {status} {kind}: {response.text}"
    )


def _beyond_json_schema(error: dict[str, str], body: object) -> bool:
    """Three rules JSON Schema cannot state: `3.0` is a JSON Schema integer but the API wants
    `3` (strict types), a quantity must be whole bytes or millicores, and a backup schedule
    must be a cron expression that fires (fields in range, `0 0 31 2 *` never does)."""
    if error["code"] == errors.INVALID_SCHEDULE:
        return True
    if error["code"] == errors.INVALID_QUANTITY:
        return "whole number" in error["message"]
    if error["code"] == errors.INVALID_TYPE and isinstance(body, dict):
        value: object = body
        for part in error["field"].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return isinstance(value, float) and value.is_integer()
    return False


@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_every_operation_answers_as_documented(case: schemathesis.Case, world: World) -> None:
    aim_at_real_resources(case, world)
    make_creatable(case, world)
    case.call_and_validate(
        base_url=world.api.url,
        headers=world.headers,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[schema_valid_requests_fail_only_on_rules_a_schema_cannot_state],
    )


def test_the_fuzzed_document_is_the_one_the_api_serves(offline_api: LiveApi) -> None:
    with httpx.Client(base_url=offline_api.url) as client:
        served = client.get("/openapi.json").json()
    assert served == openapi.document()
    assert len(list(SCHEMA.get_all_operations())) == sum(
        1
        for item in served["paths"].values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


def test_chained_calls_answer_as_documented(world: World) -> None:
    """Stateful: each step feeds ids from earlier answers into the next request."""
    machine = SCHEMA.as_state_machine()
    base_url, headers = world.api.url, world.headers
    seen: list[tuple[str, int]] = []

    class Chained(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            # Every scenario starts from the same empty project: Hypothesis replays prefixes
            # of scenarios and needs the same answers to the same calls.
            with postgres.connect(world.api.database_url) as conn:
                conn.execute(
                    "TRUNCATE databases, operations, events, idempotency_keys, backups,"
                    " restorable_windows RESTART IDENTITY"
                )

        def before_call(self, case: schemathesis.Case) -> None:
            make_creatable(case, world, every=True)
            if case.operation.label == "DELETE /v1/keys/{id}":
                # The listed ids include the scenario's own key: revoking it would answer 401
                # to every later call. Revoke a key made for the purpose instead.
                with postgres.connect(world.api.database_url) as conn:
                    _, victim = keys.issue(conn, project_id="alpha", role="viewer")
                case.path_parameters = {**(case.path_parameters or {}), "id": str(victim.id)}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            seen.append((case.operation.label, response.status_code))

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": base_url, "headers": headers}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                excluded_checks=[positive_data_acceptance],
                additional_checks=[schema_valid_requests_fail_only_on_rules_a_schema_cannot_state],
            )

    started = time.monotonic()
    Chained.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    print(f"figures: the stateful run took {time.monotonic() - started:.1f}s")
    # The chains reached real resources: ids from created databases and their operations
    # were fed into several other operations, which then succeeded. (Which ones exactly
    # varies a little with timing, so the count is asserted, not the list.)
    reached = {label for label, status in seen if status < 300}
    assert "POST /v1/databases" in reached
    by_id = {label for label in reached if "{id}" in label}
    assert len(by_id) >= 3, sorted(reached)
