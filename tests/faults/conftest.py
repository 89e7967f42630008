"""Fixtures of the fault suite: a whole pod over this test's database, Redis db and the sim.

Scenarios that must restart Redis or PostgreSQL start private servers of their own
(`servers`); everything else shares the session's servers through the usual fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services import devrun
from services.clients.kube import KubeClient
from services.domain.resources import Resource
from tests.e2e.pod import Pod, running_pod, short_home
from tests.fixtures_sim import SimCluster

BACKUP_STORAGES = Resource("storage.kubestash.com", "v1alpha1", "backupstorages", "BackupStorage")


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


@pytest.fixture
def backup_pod(
    database_url: str, redis_url: str, sim: SimCluster, home: Path
) -> Iterator[tuple[Pod, KubeClient]]:
    """The pod with backups configured, on the BackupStorage `make run` makes."""
    namespace, _ = devrun.DEV_BACKUP_STORAGE
    cluster = KubeClient(sim.api_client())
    sim.create_namespace(namespace)
    cluster.create(BACKUP_STORAGES, namespace, devrun.local_backup_storage())
    with running_pod(
        home,
        database_url=database_url,
        redis_url=redis_url,
        kubeconfig=sim.kubeconfig,
        env={"DBAAS_BACKUP_STORAGE": "/".join(devrun.DEV_BACKUP_STORAGE)},
    ) as pod:
        yield pod, cluster
