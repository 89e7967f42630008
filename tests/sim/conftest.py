"""The `kube` fixture: official-client APIs on a freshly reset simulator, namespace `demo` made."""

from __future__ import annotations

import pytest

from tests.fixtures_sim import SimCluster
from tests.sim.kube import Kube


@pytest.fixture
def kube(sim: SimCluster) -> Kube:
    handle = Kube(sim)
    handle.namespace()
    return handle
