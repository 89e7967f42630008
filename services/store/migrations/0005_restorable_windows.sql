-- Point-in-time recovery (issue 17): the restorable window of each archived database, as
-- status-sync computes it from the Snapshots of the archive's `<db>-full` Repository (the
-- oldest Succeeded full Snapshot to the incremental Snapshot's logStats.end; KubeDB exposes
-- no such field). The API shows it and checks a restore's point in time against it without
-- asking the cluster. One row per database; none while nothing is restorable.
CREATE TABLE restorable_windows (
    database_id uuid PRIMARY KEY REFERENCES databases (id),
    earliest    timestamptz NOT NULL,
    latest      timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (earliest <= latest)
);
