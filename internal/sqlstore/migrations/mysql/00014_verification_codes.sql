-- +goose Up
-- Verification codes are stored only as keyed hashes. A row belongs to one
-- verification flow and one verifiable address, and dies with either.
CREATE TABLE verification_codes (
    id          CHAR(36) PRIMARY KEY,
    flow_id     CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    address_id  CHAR(36) NOT NULL,
    code_hash   VARCHAR(128) NOT NULL,
    expires_at  DATETIME(6) NOT NULL,
    used_at     DATETIME(6),
    created_at  DATETIME(6) NOT NULL,
    FOREIGN KEY (flow_id) REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE,
    FOREIGN KEY (address_id) REFERENCES identity_verifiable_addresses (id) ON DELETE CASCADE
);
CREATE INDEX verification_codes_flow_idx ON verification_codes (flow_id);
CREATE INDEX verification_codes_expires_idx ON verification_codes (expires_at);

-- +goose Down
DROP TABLE verification_codes;
