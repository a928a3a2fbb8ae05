-- +goose Up
-- Recovery codes and link tokens are stored only as keyed hashes. A row
-- belongs to one recovery flow and dies with it (or with its identity).
CREATE TABLE recovery_codes (
    id                  TEXT PRIMARY KEY,
    flow_id             TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id         TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    recovery_address_id TEXT REFERENCES identity_recovery_addresses (id) ON DELETE SET NULL,
    code_hash           TEXT NOT NULL,
    kind                TEXT NOT NULL,
    expires_at          DATETIME NOT NULL,
    used_at             DATETIME,
    created_at          DATETIME NOT NULL
);
CREATE INDEX recovery_codes_flow_idx ON recovery_codes (flow_id);
CREATE INDEX recovery_codes_identity_idx ON recovery_codes (identity_id);

CREATE TABLE recovery_tokens (
    id                  TEXT PRIMARY KEY,
    flow_id             TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id         TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    recovery_address_id TEXT REFERENCES identity_recovery_addresses (id) ON DELETE SET NULL,
    token_hash          TEXT NOT NULL,
    kind                TEXT NOT NULL,
    expires_at          DATETIME NOT NULL,
    used_at             DATETIME,
    created_at          DATETIME NOT NULL
);
CREATE INDEX recovery_tokens_flow_idx ON recovery_tokens (flow_id);
CREATE INDEX recovery_tokens_identity_idx ON recovery_tokens (identity_id);

-- Send limits: one counter per (scope, keyed hash of the key, fixed window).
CREATE TABLE recovery_rate_limits (
    scope        TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    window_start DATETIME NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (scope, key_hash, window_start)
);
CREATE INDEX recovery_rate_limits_window_idx ON recovery_rate_limits (window_start);

-- +goose Down
DROP TABLE recovery_rate_limits;
DROP TABLE recovery_tokens;
DROP TABLE recovery_codes;
