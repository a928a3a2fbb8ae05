-- +goose Up
CREATE TABLE identities (
    id               TEXT PRIMARY KEY,
    schema_id        TEXT NOT NULL,
    state            TEXT NOT NULL,
    state_changed_at TIMESTAMPTZ,
    traits           TEXT NOT NULL,
    metadata_public  TEXT,
    metadata_admin   TEXT,
    external_id      TEXT UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX identities_created_at_idx ON identities (created_at, id);

CREATE TABLE identity_credentials (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    config      TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (identity_id, type)
);

CREATE TABLE identity_credential_identifiers (
    id              TEXT PRIMARY KEY,
    identity_id     TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    credential_type TEXT NOT NULL,
    identifier      TEXT NOT NULL,
    UNIQUE (credential_type, identifier)
);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);

CREATE TABLE identity_recovery_addresses (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (via, value)
);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);

CREATE TABLE identity_verifiable_addresses (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    status      TEXT NOT NULL,
    verified_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (via, value)
);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

-- +goose Down
DROP TABLE identity_verifiable_addresses;
DROP TABLE identity_recovery_addresses;
DROP TABLE identity_credential_identifiers;
DROP TABLE identity_credentials;
DROP TABLE identities;
