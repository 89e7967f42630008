-- Scheduled backups (issue 17): a change of a database's `backup` field is carried out by
-- an operation of its own type, `backup_policy`, which makes the database's KubeStash
-- RetentionPolicy, BackupConfiguration (and, with PITR, its KubeDB archiver) follow the
-- policy recorded in databases.backup (services/worker/steps.py).

ALTER TABLE operations DROP CONSTRAINT operations_type_check;
ALTER TABLE operations ADD CONSTRAINT operations_type_check
    CHECK (type IN ('create', 'scale', 'resize', 'expand', 'upgrade', 'configure', 'restart',
                    'delete', 'backup', 'restore', 'backup_policy'));
