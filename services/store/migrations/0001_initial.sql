-- The source of truth: projects, API keys, databases (desired + observed), operations (the
-- outbox), events (the audit trail) and idempotency records.

CREATE TABLE projects (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$'),
    namespace   text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    project_id    text NOT NULL REFERENCES projects (id),
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    prefix        text NOT NULL UNIQUE,        -- public, used to find the row
    secret_sha256 bytea NOT NULL,              -- never the key itself
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE TABLE databases (
    id                  uuid PRIMARY KEY,
    project_id          text NOT NULL REFERENCES projects (id),
    name                text NOT NULL,
    engine              text NOT NULL CHECK (engine IN ('postgres', 'mysql', 'mongodb', 'redis')),
    -- desired spec: written by the API (and by failure rollback), never by status-sync
    version             text NOT NULL,
    replicas            integer NOT NULL CHECK (replicas > 0),
    storage             text NOT NULL,
    cpu                 text,
    memory              text,
    deletion_policy     text NOT NULL
                        CHECK (deletion_policy IN ('Delete', 'Halt', 'WipeOut', 'DoNotTerminate')),
    drift_policy        text NOT NULL DEFAULT 'correct' CHECK (drift_policy IN ('correct', 'report')),
    generation          bigint NOT NULL DEFAULT 1,
    state               text NOT NULL DEFAULT 'creating'
                        CHECK (state IN ('creating', 'ready', 'updating', 'degraded',
                                         'deleting', 'deleted', 'failed')),
    -- observed status: written only by status-sync
    phase               text,
    observed_generation bigint,
    observed_spec       jsonb,
    endpoint            text,
    conditions          jsonb NOT NULL DEFAULT '[]',
    status_message      text,
    synced_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);

-- A name is taken until its database is gone; a deleted name can be reused.
CREATE UNIQUE INDEX databases_live_name ON databases (project_id, name) WHERE state <> 'deleted';
CREATE INDEX databases_project_order ON databases (project_id, created_at, id);

CREATE TABLE operations (
    id               uuid PRIMARY KEY,
    seq              bigserial NOT NULL UNIQUE,   -- global order; per database order follows it
    database_id      uuid NOT NULL REFERENCES databases (id),
    project_id       text NOT NULL REFERENCES projects (id),
    type             text NOT NULL
                     CHECK (type IN ('create', 'scale', 'resize', 'expand', 'upgrade', 'configure',
                                     'restart', 'delete')),
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'running', 'waiting', 'succeeded', 'failed',
                                      'cancelled')),
    origin           text NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'drift')),
    params           jsonb NOT NULL DEFAULT '{}',  -- target values of the change
    previous         jsonb NOT NULL DEFAULT '{}',  -- desired values before the change
    generation       bigint NOT NULL,              -- database generation this op brings about
    k8s_kind         text,
    k8s_name         text,                         -- deterministic, derived from the id
    attempt          integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    error            jsonb,                        -- problem detail when failed
    requested_by     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    enqueued_at      timestamptz
);

-- At most one operation per database is running or waiting.
CREATE UNIQUE INDEX operations_one_active ON operations (database_id)
    WHERE state IN ('running', 'waiting');
CREATE INDEX operations_open ON operations (database_id, seq)
    WHERE state IN ('pending', 'running', 'waiting');
CREATE INDEX operations_project_order ON operations (project_id, seq);
CREATE INDEX operations_database_order ON operations (database_id, seq);

CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    project_id   text NOT NULL REFERENCES projects (id),
    database_id  uuid REFERENCES databases (id),
    operation_id uuid REFERENCES operations (id),
    actor        text NOT NULL,       -- 'key:<id>', 'worker', 'status-sync', 'drift'
    kind         text NOT NULL,       -- 'database.created', 'operation.failed', 'drift.detected', ...
    message      text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_database ON events (database_id, id);

CREATE TABLE idempotency_keys (
    project_id    text NOT NULL REFERENCES projects (id),
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer NOT NULL,
    response_body jsonb NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, key)
);
