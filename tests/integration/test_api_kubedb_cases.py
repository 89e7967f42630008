"""The shared case table (tests/kubedb_cases.py), dbaas's column, against dbaas's API.

Where dbaas and KubeDB differ, the table says why; this test asserts that dbaas's answer is
the intended one (it would fail if dbaas started accepting what it means to refuse)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api_harness import (
    LiveApi,
    assert_problem,
)
from tests.kubedb_cases import CASES, NO_CHANGE, Case


def _create_body(case: Case, name: str) -> dict[str, Any]:
    return {"name": name, **case.start}


def _check(response: httpx.Response, case: Case, *, accepted_status: int = 202) -> None:
    if case.dbaas.accepted:
        assert response.status_code == accepted_status, response.text
    else:
        assert_problem(response, response.status_code, case.dbaas.says)
        assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_dbaas_does_what_the_table_says(api: LiveApi, case: Case) -> None:
    name = "db-" + case.id[:40].rstrip("-")
    with api.client(api.key(role="admin")) as client:
        created = client.post("/v1/databases", json=_create_body(case, name))
        if case.change is None:
            _check(created, case)
            return
        assert created.status_code == 202, created.text
        path = f"/v1/databases/{created.json()['id']}"
        if case.change.get("delete"):
            _check(client.delete(path), case)
        else:
            response = client.patch(
                path,
                json=case.change,
                headers={"Content-Type": "application/merge-patch+json"},
            )
            _check(response, case)
            if case.dbaas.says == NO_CHANGE:
                assert response.json()["generation"] == created.json()["generation"]
    if case.kubedb.accepted != case.dbaas.accepted:
        assert case.why, f"{case.id}: dbaas and KubeDB differ and the table does not say why"
