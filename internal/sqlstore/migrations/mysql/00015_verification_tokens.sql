-- +goose Up
-- Verification link tokens are stored only as keyed hashes. A row belongs to
-- one verification flow and one verifiable address, and dies with either.
CREATE TABLE verification_tokens (
    id          CHAR(36) PRIMARY KEY,
    flow_id     CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    address_id  CHAR(36) NOT NULL,
    token_hash  VARCHAR(128) NOT NULL,
    expires_at  DATETIME(6) NOT NULL,
    used_at     DATETIME(6),
    created_at  DATETIME(6) NOT NULL,
    FOREIGN KEY (flow_id) REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE,
    FOREIGN KEY (address_id) REFERENCES identity_verifiable_addresses (id) ON DELETE CASCADE
);
CREATE INDEX verification_tokens_flow_idx ON verification_tokens (flow_id);
CREATE INDEX verification_tokens_expires_idx ON verification_tokens (expires_at);

-- +goose Down
DROP TABLE verification_tokens;
