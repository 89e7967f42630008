-- The backups of a deleted database are kept by default; with DBAAS_DELETED_BACKUP_RETENTION
-- set, status-sync stamps each of them with the moment they expire (the database's deletion
-- plus the retention) when it sees the deletion, and deletes the Snapshots of expired ones
-- (services/reconcilers/status_sync/backup_expiry.py). NULL: kept until the platform team
-- removes them from the BackupStorage.

ALTER TABLE backups ADD COLUMN expires_at timestamptz;
CREATE INDEX backups_expiring ON backups (expires_at)
    WHERE expires_at IS NOT NULL AND snapshot_deleted_at IS NULL;
-- Rows are marked by their Snapshot's name when KubeStash's retention (or the expiry above)
-- deletes it (services/store/backups.py, mark_snapshots_deleted).
CREATE INDEX backups_snapshot ON backups (snapshot)
    WHERE snapshot IS NOT NULL AND snapshot_deleted_at IS NULL;
