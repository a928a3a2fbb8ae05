-- +goose Up
-- Sessions keep only a keyed hash (HMAC-SHA256, hex) of their bearer token.
-- Authentication methods and devices are JSON in the row so that whoami
-- reads one row through one unique index.
CREATE TABLE sessions (
    id                     TEXT PRIMARY KEY,
    identity_id            TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    token_hash             TEXT NOT NULL UNIQUE,
    active                 BOOLEAN NOT NULL,
    aal                    TEXT NOT NULL,
    authentication_methods TEXT NOT NULL,
    devices                TEXT NOT NULL,
    authenticated_at       TIMESTAMPTZ NOT NULL,
    issued_at              TIMESTAMPTZ NOT NULL,
    expires_at             TIMESTAMPTZ NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_identity_created_idx ON sessions (identity_id, created_at);
CREATE INDEX sessions_created_idx ON sessions (created_at, id);

-- +goose Down
DROP TABLE sessions;
