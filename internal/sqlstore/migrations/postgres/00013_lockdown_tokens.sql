-- +goose Up
-- "This wasn't me" links of the security notifications (internal/notify):
-- one per mailed notification, stored only as a keyed hash, single use.
-- event_type and event_time say what the link undoes (shown on the
-- confirm page); event_id names the audit event it answers.
CREATE TABLE lockdown_tokens (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    event_time  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX lockdown_tokens_identity_idx ON lockdown_tokens (identity_id);
CREATE INDEX lockdown_tokens_expires_idx ON lockdown_tokens (expires_at);

-- +goose Down
DROP TABLE lockdown_tokens;
