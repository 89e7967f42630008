"""The Addon and Function objects the simulated cluster starts with (cluster-scoped).

A real cluster gets them from the `kubedb-kubestash-catalog` chart; the sim loads the pack
`generate.py` wrote from KubeDB's own addon definitions, so it works in any clone with
nothing next to the checkout. Only reads package data.
"""

from __future__ import annotations

import json
from typing import Any

from services.sim.kubestash.generate import PACK

GROUP = "addons.kubestash.com"


def catalog_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = json.loads(PACK.read_bytes())
    return objects
