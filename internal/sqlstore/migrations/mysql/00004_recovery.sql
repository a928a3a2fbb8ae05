-- +goose Up
-- Recovery codes and link tokens are stored only as keyed hashes. A row
-- belongs to one recovery flow and dies with it (or with its identity).
CREATE TABLE recovery_codes (
    id                  CHAR(36) PRIMARY KEY,
    flow_id             CHAR(36) NOT NULL,
    identity_id         CHAR(36) NOT NULL,
    recovery_address_id CHAR(36),
    code_hash           VARCHAR(128) NOT NULL,
    kind                VARCHAR(16) NOT NULL,
    expires_at          DATETIME(6) NOT NULL,
    used_at             DATETIME(6),
    created_at          DATETIME(6) NOT NULL,
    FOREIGN KEY (flow_id) REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE,
    FOREIGN KEY (recovery_address_id) REFERENCES identity_recovery_addresses (id) ON DELETE SET NULL
);
CREATE INDEX recovery_codes_flow_idx ON recovery_codes (flow_id);
CREATE INDEX recovery_codes_identity_idx ON recovery_codes (identity_id);

CREATE TABLE recovery_tokens (
    id                  CHAR(36) PRIMARY KEY,
    flow_id             CHAR(36) NOT NULL,
    identity_id         CHAR(36) NOT NULL,
    recovery_address_id CHAR(36),
    token_hash          VARCHAR(128) NOT NULL,
    kind                VARCHAR(16) NOT NULL,
    expires_at          DATETIME(6) NOT NULL,
    used_at             DATETIME(6),
    created_at          DATETIME(6) NOT NULL,
    FOREIGN KEY (flow_id) REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE,
    FOREIGN KEY (recovery_address_id) REFERENCES identity_recovery_addresses (id) ON DELETE SET NULL
);
CREATE INDEX recovery_tokens_flow_idx ON recovery_tokens (flow_id);
CREATE INDEX recovery_tokens_identity_idx ON recovery_tokens (identity_id);

-- Send limits: one counter per (scope, keyed hash of the key, fixed window).
CREATE TABLE recovery_rate_limits (
    scope        VARCHAR(32) NOT NULL,
    key_hash     VARCHAR(128) NOT NULL,
    window_start DATETIME(6) NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (scope, key_hash, window_start)
);
CREATE INDEX recovery_rate_limits_window_idx ON recovery_rate_limits (window_start);

-- +goose Down
DROP TABLE recovery_rate_limits;
DROP TABLE recovery_tokens;
DROP TABLE recovery_codes;
