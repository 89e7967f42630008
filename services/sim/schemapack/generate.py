"""Write the schema pack from the real CRDs: `python -m services.sim.schemapack.generate`.

Reads `../shared/kubedb/crds` and `../shared/kubestash/crds` next to the checkout (or
`--shared DIR`) and writes one pack per source into this package (`kubedb.json.xz`,
`kubestash.json.xz`). Each pack is a JSON list of the CRDs reduced to what an API server and
kubectl use: names, scope, versions (served, storage, subresources, printer columns) and the
structural openAPIV3Schema (types, formats, enums, patterns, bounds, required, defaults,
nullable, `x-kubernetes-*` markers), with every `description` and `example` dropped. The
output is deterministic (sorted keys, fixed xz settings), so re-running it on unchanged CRDs
leaves the committed files byte-identical; `tests/sim/test_schemapack.py` fails when they
no longer match `../shared`.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.sim.schemapack import PACK_DIR, SOURCES, pack_path

# Schema keywords that carry prose, not structure.
_PROSE = frozenset({"description", "example", "externalDocs"})
# What a CRD version keeps besides its schema.
_VERSION_FIELDS = ("name", "served", "storage", "deprecated", "subresources")


def default_shared_dir() -> Path:
    """`<checkout>/../shared`."""
    return PACK_DIR.resolve().parents[3].parent / "shared"


def structural(schema: Any) -> Any:
    """`schema` without prose; property names (which may be called `description`) are kept."""
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reduced: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _PROSE:
            continue
        if key in ("properties", "patternProperties", "definitions"):
            reduced[key] = {name: structural(sub) for name, sub in value.items()}
        elif key in ("default", "enum", "const", "required"):
            reduced[key] = value  # values, not schemas
        else:
            reduced[key] = structural(value)
    return reduced


def reduce_crd(crd: Mapping[str, Any]) -> dict[str, Any]:
    """One CRD as the pack holds it."""
    spec = crd["spec"]
    versions = []
    for version in spec["versions"]:
        kept: dict[str, Any] = {k: version[k] for k in _VERSION_FIELDS if k in version}
        columns = version.get("additionalPrinterColumns")
        if columns:
            kept["additionalPrinterColumns"] = [
                {k: v for k, v in column.items() if k != "description"} for column in columns
            ]
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            kept["schema"] = {"openAPIV3Schema": structural(schema)}
        versions.append(kept)
    return {
        "apiVersion": crd["apiVersion"],
        "kind": crd["kind"],
        "metadata": {"name": crd["metadata"]["name"]},
        "spec": {
            "group": spec["group"],
            "names": spec["names"],
            "scope": spec.get("scope", "Namespaced"),
            "versions": versions,
        },
    }


def read_crds(directory: Path) -> list[dict[str, Any]]:
    """The reduced CRDs of every *.yaml / *.yml in `directory`, ordered by name."""
    crds: list[dict[str, Any]] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        for document in yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                crds.append(reduce_crd(document))
    return sorted(crds, key=lambda crd: str(crd["metadata"]["name"]))


def encode(crds: list[dict[str, Any]]) -> bytes:
    text = json.dumps(crds, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return lzma.compress(text.encode(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.sim.schemapack.generate")
    parser.add_argument(
        "--shared", type=Path, default=None, help="the shared facts directory (../shared)"
    )
    parser.add_argument(
        "--out", type=Path, default=PACK_DIR, help="where to write the packs (this package)"
    )
    args = parser.parse_args(argv)
    shared = args.shared or default_shared_dir()
    for source, relative in SOURCES.items():
        directory = shared / relative
        if not directory.is_dir():
            print(f"generate: no CRDs at {directory}", file=sys.stderr)
            return 2
        crds = read_crds(directory)
        if not crds:
            print(f"generate: {directory} holds no CustomResourceDefinition", file=sys.stderr)
            return 2
        out = pack_path(source, args.out)
        out.write_bytes(encode(crds))
        print(f"generate: {len(crds)} CRDs from {directory} -> {out} ({out.stat().st_size} B)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
