-- +goose Up
-- Verification codes are stored only as keyed hashes. A row belongs to one
-- verification flow and one verifiable address, and dies with either.
CREATE TABLE verification_codes (
    id          TEXT PRIMARY KEY,
    flow_id     TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    address_id  TEXT NOT NULL REFERENCES identity_verifiable_addresses (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    expires_at  DATETIME NOT NULL,
    used_at     DATETIME,
    created_at  DATETIME NOT NULL
);
CREATE INDEX verification_codes_flow_idx ON verification_codes (flow_id);
CREATE INDEX verification_codes_expires_idx ON verification_codes (expires_at);

-- +goose Down
DROP TABLE verification_codes;
