"""Real responses conform to /openapi.json: every answer of a scenario that touches every
route is validated (jsonschema, formats checked) against the schema the document gives for
its path, method, status and media type, and every documented success status is seen."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
from kubernetes import client as k8s
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.api_harness import (
    LiveApi,
    spec,
)

DOC_URI = "urn:dbaas:openapi"
METHODS = {"get", "post", "put", "patch", "delete"}


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Conformance:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry: Registry = Registry().with_resource(
            DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
        )
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in doc["paths"]
        ]
        self.seen: set[tuple[str, str, str]] = set()
        self.failures: list[str] = []

    def template(self, path: str) -> str:
        matches = [template for pattern, template in self.templates if pattern.match(path)]
        assert len(matches) == 1, f"{path} matches {matches}"
        return matches[0]

    def check(self, response: httpx.Response) -> None:
        method = response.request.method.lower()
        template = self.template(response.request.url.path)
        where = f"{method.upper()} {template} {response.status_code}"
        responses = self.doc["paths"][template][method]["responses"]
        status = str(response.status_code)
        if status not in responses:
            self.failures.append(f"{where}: status not documented")
            return
        self.seen.add((template, method, status))
        content = responses[status].get("content") or {}
        media = response.headers.get("content-type", "").split(";")[0]
        if media not in content:
            self.failures.append(f"{where}: media type {media} not documented")
            return
        if media not in ("application/json", "application/problem+json"):
            return
        path = ("paths", _escape(template), method, "responses", status, "content")
        pointer = "/".join(["#", *path, _escape(media), "schema"])
        validator = jsonschema.Draft202012Validator(
            {"$ref": DOC_URI + pointer},
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        for error in validator.iter_errors(response.json()):
            self.failures.append(f"{where}: {error.message} at {list(error.absolute_path)}")


def test_every_answer_of_a_full_scenario_conforms_to_the_document(api: LiveApi, sim: Any) -> None:
    with httpx.Client(base_url=api.url) as plain:
        doc = plain.get("/openapi.json").json()
    conformance = Conformance(doc)

    def record(response: httpx.Response) -> None:
        response.read()
        conformance.check(response)

    def client(key: str | None = None, **headers: str) -> httpx.Client:
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Client(
            base_url=api.url, headers=headers, event_hooks={"response": [record]}, timeout=20
        )

    admin, viewer = api.key(), api.key(role="viewer")
    with client() as anonymous:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
            anonymous.get(path)
        anonymous.get("/v1/databases")  # 401
    with client(viewer) as reader:
        reader.post("/v1/databases", json=spec("nope"))  # 403
    with client(admin) as c:
        created = c.post("/v1/databases", json=spec("orders", resources={"cpu": "1"})).json()
        db = f"/v1/databases/{created['id']}"
        c.post("/v1/databases", json=spec("orders"))  # 409
        c.post("/v1/databases", json=spec("Bad Name", replicas=0))  # 422
        c.post("/v1/databases", content=b"{", headers={"Content-Type": "application/json"})
        c.post("/v1/databases", content=b"x", headers={"Content-Type": "text/plain"})  # 415
        c.post(
            "/v1/databases",
            content=b" " * (api.settings.max_body_bytes + 1),
            headers={"Content-Type": "application/json"},
        )  # 413
        c.get("/v1/databases", params={"limit": "abc"})  # 400 invalid-query
        c.get("/v1/databases")
        c.get(db)
        c.get("/v1/databases/00000000-0000-0000-0000-000000000000")  # 404
        c.patch(db, json={"replicas": 3})
        c.patch(db, json={"storage": "1Gi"})  # 422
        c.patch(db, json={"backup": {"schedule": "61 * * * *", "pitr": "yes"}})  # 422
        c.patch(db, json={"replicas": 2}, headers={"If-Match": '"stale"'})  # 412
        restart = c.post(f"{db}/restart").json()
        c.get(f"{db}/operations")
        c.get(f"{db}/events")
        c.get(f"{db}/credentials")  # 409 not ready
        sim.create_namespace("dbaas-alpha")
        k8s.CoreV1Api(sim.api_client()).create_namespaced_secret(
            "dbaas-alpha",
            {"metadata": {"name": "orders-auth"}, "stringData": {"username": "u", "password": "p"}},
        )
        c.get(f"{db}/credentials")
        c.get("/v1/operations")
        c.get(f"/v1/operations/{restart['operations'][0]['id']}")
        c.post(f"/v1/operations/{restart['operations'][0]['id']}/cancel")
        c.post(f"/v1/operations/{restart['operations'][0]['id']}/cancel")  # 409
        c.get("/v1/engines")
        c.get("/v1/whoami")
        c.get("/v1/quota")
        c.get("/v1/projects/alpha/quota")  # 403: not a platform admin
    with client(api.key(project="platform")) as platform:
        platform.get("/v1/projects/alpha/quota")
        platform.patch("/v1/projects/alpha/quota", json={"databases": 50})
        platform.patch("/v1/projects/alpha/quota", json={"databases": "fifty"})  # 422
    with client(admin) as c:
        issued = c.post("/v1/keys", json={"name": "doc", "role": "viewer"}).json()
        c.get("/v1/keys")
        c.delete(f"/v1/keys/{issued['id']}")
        backup = c.post(f"{db}/backups").json()
        c.get(f"{db}/backups")
        c.get("/v1/backups", params={"database_id": created["id"], "state": "pending"})
        c.get(f"/v1/backups/{backup['id']}")
        c.delete(db)
        c.delete(db)  # 409 deleting

    assert conformance.failures == []
    documented_successes = {
        (path, method, status)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
        for status in operation["responses"]
        if status.startswith("2")
    }
    assert documented_successes <= conformance.seen
    seen_statuses = {status for _, _, status in conformance.seen}
    assert {"400", "401", "403", "404", "409", "412", "413", "415", "422"} <= seen_statuses
