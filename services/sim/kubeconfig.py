"""The kubeconfig that points the official client and kubectl at the simulated cluster.

Plain http on loopback with a bearer token: a dummy one when the simulator checks none, its
own when it runs with `--require-token`.
Written atomically with mode 0600, as kubectl itself does; `server_of` reads a
kubeconfig's current server back for the admin CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "dbaas-sim"
TOKEN = "dbaas-sim-token"


def render(server: str, *, namespace: str = "default", token: str = TOKEN) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": CONTEXT, "cluster": {"server": server}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }


def write(path: Path, server: str, *, token: str = TOKEN) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(render(server, token=token), handle, sort_keys=False)
    os.replace(scratch, path)
    return path


def server_of(path: Path) -> str:
    """The server URL of the kubeconfig's current context."""
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context", ""), {})
    cluster = clusters.get(context.get("cluster", ""), {})
    server = cluster.get("server")
    if not server:
        raise ValueError(f"{path}: no server in the current context")
    return str(server)
