"""The schema pack: the real KubeDB (and KubeStash) CRDs, reduced to structure, as package data.

The sim validates against these in any clone, in an installed package and in the image, with
nothing next to the checkout. `generate.py` writes them from `../shared`; a test keeps them
equal to it. Loading one pack costs about 40 ms (xz + JSON) and is done once per process.
"""

from __future__ import annotations

import json
import lzma
from pathlib import Path
from typing import Any

PACK_DIR = Path(__file__).resolve().parent
SOURCES = {"kubedb": Path("kubedb") / "crds", "kubestash": Path("kubestash") / "crds"}
"""Pack name -> the CRD directory under `../shared` it is generated from."""


def pack_path(source: str, directory: Path = PACK_DIR) -> Path:
    return directory / f"{source}.json.xz"


def load(source: str = "kubedb") -> list[dict[str, Any]]:
    """The reduced CRDs of one pack (`kubedb` or `kubestash`)."""
    crds: list[dict[str, Any]] = json.loads(lzma.decompress(pack_path(source).read_bytes()))
    return crds
