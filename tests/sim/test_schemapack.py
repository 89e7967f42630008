"""The schema pack: equal to the real CRDs in `../shared`, and enough on its own in a bare clone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from services.sim import schemapack
from services.sim.schemapack import generate
from tests.fixtures_sim import READY_LINE, REPO

# .ci/run points DBAAS_SHARED_DIR at the workplace's copy when the clone has none beside it.
SHARED = Path(os.environ.get("DBAAS_SHARED_DIR") or REPO.parent / "shared")


@pytest.mark.parametrize("source", sorted(schemapack.SOURCES))
def test_the_committed_pack_equals_the_crds_in_shared(source: str) -> None:
    directory = SHARED / schemapack.SOURCES[source]
    if not directory.is_dir():
        pytest.skip(f"no {directory}: the pack cannot be compared with the CRDs it came from")
    expected = generate.read_crds(directory)
    packed = schemapack.load(source)
    assert [crd["metadata"]["name"] for crd in packed] == [
        crd["metadata"]["name"] for crd in expected
    ]
    for ours, theirs in zip(packed, expected, strict=True):
        assert ours == theirs, (
            f"{ours['metadata']['name']}: the pack is stale; "
            "run `python -m services.sim.schemapack.generate`"
        )


def test_the_pack_keeps_structure_and_drops_prose() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com", "annotations": {"a": "b"}},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode",
                         "description": "prose"},
                    ],
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "description": "prose",
                        "properties": {
                            "description": {"type": "string", "description": "prose"},
                            "mode": {"type": "string", "enum": ["A", "B"], "default": "A",
                                     "pattern": "^[AB]$", "maxLength": 1},
                            "size": {"x-kubernetes-int-or-string": True, "anyOf": [
                                {"type": "integer"}, {"type": "string"}]},
                        },
                        "required": ["mode"],
                    }},
                }
            ],
        },
    }  # fmt: skip
    reduced = generate.reduce_crd(crd)
    schema = reduced["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "description" not in schema
    assert schema["properties"]["description"] == {"type": "string"}  # a field named so stays
    assert schema["properties"]["mode"] == {
        "type": "string", "enum": ["A", "B"], "default": "A", "pattern": "^[AB]$", "maxLength": 1
    }  # fmt: skip
    assert schema["properties"]["size"]["x-kubernetes-int-or-string"] is True
    assert schema["required"] == ["mode"]
    assert reduced["spec"]["versions"][0]["additionalPrinterColumns"] == [
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"}
    ]
    assert reduced["metadata"] == {"name": "things.example.com"}


def _post(url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _postgres(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubedb.com/v1",
        "kind": "Postgres",
        "metadata": {"name": name},
        "spec": {"version": "16.4", "storageType": "Durable", "deletionPolicy": "Delete", **spec},
    }


def test_a_clone_without_shared_validates_with_the_pack(tmp_path: Path) -> None:
    """A copy of the package with nothing next to it refuses what the real CRDs refuse."""
    clone = tmp_path / "clone"
    shutil.copytree(
        REPO / "services", clone / "services", ignore=shutil.ignore_patterns("__pycache__")
    )
    assert not (clone.parent / "shared").exists()
    home = tmp_path / "home"
    log = tmp_path / "sim.log"
    env = {**os.environ, "DBAAS_HOME": str(home), "PYTHONPATH": str(clone)}
    command = [sys.executable, "-m", "services.cli", "sim", "--port", "0",
               "--kubeconfig", str(home / "kubeconfig")]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=clone, env=env, stdout=sink, stderr=sink)
    try:
        url = _wait_ready(process, log)
        text = log.read_text()
        assert f"schema validation ON (the packaged KubeDB schemas, {clone}" in text, text
        path = "/apis/kubedb.com/v1/namespaces/default/postgreses"
        for name, spec, field, reason in (
            ("bad-replicas", {"replicas": "three"}, "spec.replicas", "FieldValueTypeInvalid"),
            ("bad-storage", {"storageType": "Floppy"}, "spec.storageType",
             "FieldValueNotSupported"),
            ("bad-policy", {"deletionPolicy": "Whenever"}, "spec.deletionPolicy",
             "FieldValueNotSupported"),
        ):  # fmt: skip
            code, status = _post(url, path, _postgres(name, **spec))
            assert code == 422, status
            assert status["reason"] == "Invalid"
            causes = {(c["field"], c["reason"]) for c in status["details"]["causes"]}
            assert (field, reason) in causes, status
        code, created = _post(url, path, _postgres("good", replicas=3))
        assert code == 201, created
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def _wait_ready(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(READY_LINE):
                return dict(p.split("=", 1) for p in line.split()[3:] if "=" in p)["url"]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"dbaas sim did not start:\n{log.read_text(errors='replace')}")
