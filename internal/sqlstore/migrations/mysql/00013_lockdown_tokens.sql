-- +goose Up
-- "This wasn't me" links of the security notifications (internal/notify):
-- one per mailed notification, stored only as a keyed hash, single use.
-- event_type and event_time say what the link undoes (shown on the
-- confirm page); event_id names the audit event it answers.
CREATE TABLE lockdown_tokens (
    id          CHAR(36) PRIMARY KEY,
    identity_id CHAR(36) NOT NULL,
    token_hash  VARCHAR(128) NOT NULL,
    event_id    CHAR(36) NOT NULL,
    event_type  VARCHAR(64) NOT NULL,
    event_time  DATETIME(6) NOT NULL,
    expires_at  DATETIME(6) NOT NULL,
    used_at     DATETIME(6),
    created_at  DATETIME(6) NOT NULL,
    UNIQUE KEY lockdown_tokens_hash_key (token_hash),
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX lockdown_tokens_identity_idx ON lockdown_tokens (identity_id);
CREATE INDEX lockdown_tokens_expires_idx ON lockdown_tokens (expires_at);

-- +goose Down
DROP TABLE lockdown_tokens;
