-- Each RQ worker's last heartbeat, by worker name (the lease owner of the operations it
-- claims). status-sync hands the operations of a worker whose heartbeat stopped to another
-- worker at once, instead of waiting out their lease (services/store/heartbeats.py).
CREATE TABLE worker_heartbeats (
    name     text PRIMARY KEY,
    beat_at  timestamptz NOT NULL DEFAULT now()
);
