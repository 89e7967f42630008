-- Backups (issue 17): a database's backup policy, and one row per backup, scheduled or
-- manual. A row is keyed in the cluster by its BackupSession's name (unique per database),
-- so status-sync can record what it observes again and again without creating a second
-- row; a manual backup's row exists from the API's transaction on (outbox), before the
-- worker creates its BackupSession.

-- The policy as the API shows it: {"schedule", "retention": {"keep_last", "max_age"},
-- "pitr"}; null = no scheduled backups (services/domain/backups.py validates it).
ALTER TABLE databases ADD COLUMN backup jsonb;

ALTER TABLE operations DROP CONSTRAINT operations_type_check;
ALTER TABLE operations ADD CONSTRAINT operations_type_check
    CHECK (type IN ('create', 'scale', 'resize', 'expand', 'upgrade', 'configure', 'restart',
                    'delete', 'backup', 'restore'));

CREATE TABLE backups (
    id                  uuid PRIMARY KEY,
    project_id          text NOT NULL REFERENCES projects (id),
    database_id         uuid NOT NULL REFERENCES databases (id),
    operation_id        uuid UNIQUE REFERENCES operations (id),  -- manual backups only
    origin              text NOT NULL CHECK (origin IN ('schedule', 'manual')),
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
    backup_session      text,            -- the BackupSession's name, once known
    snapshot            text,            -- the Snapshot's name, once KubeStash made it
    size_bytes          bigint CHECK (size_bytes >= 0),
    error               text,
    started_at          timestamptz,
    completed_at        timestamptz,
    snapshot_deleted_at timestamptz,     -- the Snapshot is gone (retention): not restorable
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (origin = 'schedule' OR operation_id IS NOT NULL),
    CHECK (completed_at IS NULL OR state IN ('succeeded', 'failed'))
);

CREATE UNIQUE INDEX backups_session ON backups (database_id, backup_session)
    WHERE backup_session IS NOT NULL;
-- Newest first, keyset pagination on (created_at, id); listed while the snapshot exists.
CREATE INDEX backups_database_order ON backups (database_id, created_at DESC, id DESC)
    WHERE snapshot_deleted_at IS NULL;
CREATE INDEX backups_project_order ON backups (project_id, created_at DESC, id DESC)
    WHERE snapshot_deleted_at IS NULL;
CREATE INDEX backups_open ON backups (database_id) WHERE state IN ('pending', 'running');
