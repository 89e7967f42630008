"""Calls of the backup fault tests: a database to back up and the API answers they expect."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.pod import Pod

DATABASE = {"engine": "postgres", "version": "16.13", "replicas": 1, "storage": "1Gi"}


def post(pod: Pod, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = pod.call("POST", path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def get(pod: Pod, path: str) -> dict[str, Any]:
    response = pod.call("GET", path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
