-- +goose Up
-- Verification link tokens are stored only as keyed hashes. A row belongs to
-- one verification flow and one verifiable address, and dies with either.
CREATE TABLE verification_tokens (
    id          TEXT PRIMARY KEY,
    flow_id     TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    address_id  TEXT NOT NULL REFERENCES identity_verifiable_addresses (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL,
    expires_at  DATETIME NOT NULL,
    used_at     DATETIME,
    created_at  DATETIME NOT NULL
);
CREATE INDEX verification_tokens_flow_idx ON verification_tokens (flow_id);
CREATE INDEX verification_tokens_expires_idx ON verification_tokens (expires_at);

-- +goose Down
DROP TABLE verification_tokens;
