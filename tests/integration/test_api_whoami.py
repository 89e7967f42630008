"""GET /v1/whoami tells a key its own project and role, and nothing about other keys."""

from __future__ import annotations

import pytest

from tests.api_harness import (
    LiveApi,
    assert_problem,
)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_a_key_learns_its_project_and_role(offline_api: LiveApi, role: str) -> None:
    key = offline_api.key(role=role, project="acme")
    with offline_api.client(key) as client:
        response = client.get("/v1/whoami")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["project"] == "acme"
    assert body["role"] == role
    assert key.split("_", 2)[2] not in response.text  # the secret stays out
    assert set(body) == {"project", "role", "key_id"}


def test_a_revoked_key_is_refused(offline_api: LiveApi) -> None:
    key = offline_api.key(role="admin")
    offline_api.revoke(key)
    with offline_api.client(key) as client:
        assert_problem(client.get("/v1/whoami"), 401, "unauthorized")


def test_an_unknown_query_parameter_is_refused(offline_api: LiveApi) -> None:
    with offline_api.client(offline_api.key()) as client:
        assert_problem(client.get("/v1/whoami", params={"role": "admin"}), 400, "invalid-query")
