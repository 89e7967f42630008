"""Write the KubeStash catalog pack: `python -m services.sim.kubestash.generate`.

Reads KubeDB's four addon definitions from `../shared/kubestash/catalog` (or `--shared DIR`)
and writes `catalog.json` into this package: the Addon objects unchanged, plus one Function
per function name the addons' tasks use (the catalog chart installs those too; their images
follow KUBESTASH-API.md §2). The output is deterministic (sorted keys), so re-running it on
unchanged sources leaves the committed file byte-identical; tests/sim/test_kubestash_catalog.py
fails when it no longer matches `../shared`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
PACK = PACKAGE_DIR / "catalog.json"
API_VERSION = "addons.kubestash.com/v1alpha1"

# Function name prefix -> image (KUBESTASH-API.md §2, "Function images").
_IMAGES = (
    ("kubedbmanifest-", "kubedb/kubedb-manifest-plugin:v0.29.0"),
    ("mysql-physical-", "kubedb/xtrabackup-restic-plugin:v0.14.0_${DB_VERSION}"),
    ("postgres-csi-", "kubedb/postgres-csi-snapshotter-plugin:v0.27.0"),
    ("mysql-csi-", "kubedb/mysql-csi-snapshotter-plugin:v0.27.0"),
    ("mongodb-csi-", "kubedb/mongodb-csi-snapshotter-plugin:v0.27.0"),
    ("postgres-", "ghcr.io/kubedb/postgres-restic-plugin:v0.29.0_${DB_VERSION}"),
    ("mysql-", "kubedb/mysql-restic-plugin:v0.29.0_${DB_VERSION}"),
    ("mongodb-", "kubedb/mongodb-restic-plugin:v0.29.0_${DB_VERSION}"),
    ("redis-", "kubedb/redis-restic-plugin:v0.29.0"),
)


def default_shared_dir() -> Path:
    """`<checkout>/../shared`."""
    return PACKAGE_DIR.parents[2].parent / "shared"


def image_of(function: str) -> str:
    for prefix, image in _IMAGES:
        if function.startswith(prefix):
            return image
    raise ValueError(f"no image known for function {function!r}")


def function_object(name: str, *, restore: bool) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {"image": image_of(name), "args": ["restore" if restore else "backup"]},
    }


def build(catalog_dir: Path) -> list[dict[str, Any]]:
    """The Addons of `catalog_dir` and the Functions their tasks name, ordered by kind, name."""
    addons: list[dict[str, Any]] = []
    functions: dict[str, dict[str, Any]] = {}
    for path in sorted(catalog_dir.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict) or document.get("kind") != "Addon":
                continue
            addons.append(document)
            spec = document.get("spec") or {}
            for key, restore in (("backupTasks", False), ("restoreTasks", True)):
                for task in spec.get(key) or []:
                    name = task["function"]
                    functions.setdefault(name, function_object(name, restore=restore))
    addons.sort(key=lambda obj: str(obj["metadata"]["name"]))
    return addons + [functions[name] for name in sorted(functions)]


def encode(objects: list[dict[str, Any]]) -> bytes:
    return (json.dumps(objects, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.sim.kubestash.generate")
    parser.add_argument("--shared", type=Path, default=None, help="the shared facts directory")
    parser.add_argument("--out", type=Path, default=PACK, help="the file to write")
    args = parser.parse_args(argv)
    catalog_dir = (args.shared or default_shared_dir()) / "kubestash" / "catalog"
    if not catalog_dir.is_dir():
        print(f"generate: no KubeStash catalog at {catalog_dir}", file=sys.stderr)
        return 2
    objects = build(catalog_dir)
    if not objects:
        print(f"generate: {catalog_dir} holds no Addon", file=sys.stderr)
        return 2
    args.out.write_bytes(encode(objects))
    print(f"generate: {len(objects)} objects from {catalog_dir} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
