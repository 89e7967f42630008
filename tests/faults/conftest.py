"""Fixtures of the fault suite: a whole pod over this test's database, Redis db and the sim.

Scenarios that must restart Redis or PostgreSQL start private servers of their own
(`servers`); everything else shares the session's servers through the usual fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pod import Pod, running_pod, short_home
from tests.fixtures_sim import SimCluster


@pytest.fixture
def home() -> Iterator[Path]:
    with short_home("dbaas-fault-") as path:
        yield path


@pytest.fixture
def pod(database_url: str, redis_url: str, sim: SimCluster, home: Path) -> Iterator[Pod]:
    with running_pod(
        home, database_url=database_url, redis_url=redis_url, kubeconfig=sim.kubeconfig
    ) as running:
        yield running
