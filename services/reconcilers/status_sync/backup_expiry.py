"""The backups of a deleted database expire after `DBAAS_DELETED_BACKUP_RETENTION`.

Deleting a database keeps its backups (its Repository is `deletionPolicy: Retain`). With a
retention set, status-sync stamps each kept backup of a deleted database with its expiry
(the deletion plus the retention; shown as the backup's `expires_at`) and, once that has
passed, deletes its Snapshot with `deletionPolicy: WipeOut`, so that KubeStash removes the
backed-up data too, not only the object (KUBESTASH-API.md, lifecycle rules). The Snapshot's
deletion reaches the backup view like retention's, which marks the row: it leaves the
listings and can no longer be restored from. A Snapshot already gone is marked at once.
"""

from __future__ import annotations

import logging

from services.clients.kube import KubeClient, KubeError
from services.clients.postgres import Connection
from services.domain.resources import SNAPSHOT
from services.store import backups

log = logging.getLogger(__name__)

PROGRAM = "status-sync"
BATCH = 100
"""Snapshots deleted per cleanup at most: the cleanup shares status-sync's cycle."""


def delete_expired(conn: Connection, cluster: KubeClient, retention_seconds: float | None) -> int:
    """Stamp the expiries of newly deleted databases' backups and delete the Snapshots of
    the expired ones; how many Snapshots were deleted."""
    if retention_seconds is None:
        return 0
    backups.stamp_expiry_of_deleted(conn, retention_seconds=retention_seconds)
    deleted = 0
    for namespace, snapshot in backups.expired_snapshots(conn, limit=BATCH):
        try:
            cluster.merge_patch(
                SNAPSHOT, namespace, snapshot, {"spec": {"deletionPolicy": "WipeOut"}}
            )
            cluster.delete(SNAPSHOT, namespace, snapshot)
        except KubeError as error:
            if not error.not_found:
                log.warning(
                    "%s: deleting expired Snapshot %s/%s: %s", PROGRAM, namespace, snapshot, error
                )
                continue
            backups.mark_snapshots_deleted(conn, [snapshot])
        deleted += 1
    if deleted:
        log.info("%s: deleted %d expired Snapshot(s) of deleted databases", PROGRAM, deleted)
    return deleted
