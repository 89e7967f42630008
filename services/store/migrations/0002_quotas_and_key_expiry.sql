-- Per-project quota overrides (NULL: the server's default, DBAAS_QUOTA_*), and API keys
-- that expire.

CREATE TABLE project_quotas (
    project_id          text PRIMARY KEY REFERENCES projects (id),
    databases           integer CHECK (databases >= 0),
    storage             text,
    cpu                 text,
    memory              text,
    waiting_operations  integer CHECK (waiting_operations >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
