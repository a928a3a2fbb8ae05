-- +goose Up
-- Sessions keep only a keyed hash (HMAC-SHA256, hex) of their bearer token.
-- Authentication methods and devices are JSON in the row so that whoami
-- reads one row through one unique index.
CREATE TABLE sessions (
    id                     CHAR(36) PRIMARY KEY,
    identity_id            CHAR(36) NOT NULL,
    token_hash             CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    active                 BOOLEAN NOT NULL,
    aal                    VARCHAR(8) NOT NULL,
    authentication_methods LONGTEXT NOT NULL,
    devices                LONGTEXT NOT NULL,
    authenticated_at       DATETIME(6) NOT NULL,
    issued_at              DATETIME(6) NOT NULL,
    expires_at             DATETIME(6) NOT NULL,
    created_at             DATETIME(6) NOT NULL,
    updated_at             DATETIME(6) NOT NULL,
    UNIQUE (token_hash),
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX sessions_identity_created_idx ON sessions (identity_id, created_at);
CREATE INDEX sessions_created_idx ON sessions (created_at, id);

-- +goose Down
DROP TABLE sessions;
