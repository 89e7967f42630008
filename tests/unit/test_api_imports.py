"""What the API's processes import: the master next to nothing, a worker no Kubernetes
client until it needs one (each costs a process tens of MiB of the pod's 512Mi)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "kubernetes",
    "services.clients.kube",
    "psycopg",
    "redis",
    "starlette",
    "prometheus_client",
    "services.api.app",
    "hypercorn.asyncio",
    "jsonschema",
    "yaml",
)


def imported_after(*modules: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after importing `modules`."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    found: list[str] = json.loads(result.stdout)
    return found


def test_the_hypercorn_master_imports_neither_the_app_nor_its_clients() -> None:
    assert imported_after("services.cli", "services.commands.api") == []


def test_an_api_worker_imports_the_kubernetes_client_only_when_it_needs_it() -> None:
    loaded = imported_after("services.api.app")
    assert "kubernetes" not in loaded and "services.clients.kube" not in loaded
    assert {"psycopg", "starlette", "services.api.app"} <= set(loaded)  # the probe works


def test_a_catalog_read_loads_the_kubernetes_client_on_first_use() -> None:
    code = (
        "import sys\n"
        "from services.api import cluster_access, problems\n"
        "access = cluster_access.ClusterAccess('/nonexistent/kubeconfig')\n"
        "before = 'kubernetes' in sys.modules\n"
        "try:\n"
        "    access.get()\n"
        "except problems.Problem:\n"
        "    pass\n"
        "print(before, 'kubernetes' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "True"]
