-- +goose Up
CREATE TABLE identities (
    id               CHAR(36) PRIMARY KEY,
    schema_id        VARCHAR(255) NOT NULL,
    state            VARCHAR(32) NOT NULL,
    state_changed_at DATETIME(6),
    traits           LONGTEXT NOT NULL,
    metadata_public  LONGTEXT,
    metadata_admin   LONGTEXT,
    external_id      VARCHAR(255) UNIQUE,
    created_at       DATETIME(6) NOT NULL,
    updated_at       DATETIME(6) NOT NULL
);
CREATE INDEX identities_created_at_idx ON identities (created_at, id);

CREATE TABLE identity_credentials (
    id          CHAR(36) PRIMARY KEY,
    identity_id CHAR(36) NOT NULL,
    type        VARCHAR(64) NOT NULL,
    config      LONGTEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    UNIQUE (identity_id, type),
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);

CREATE TABLE identity_credential_identifiers (
    id              CHAR(36) PRIMARY KEY,
    identity_id     CHAR(36) NOT NULL,
    credential_type VARCHAR(64) NOT NULL,
    identifier      VARCHAR(320) NOT NULL,
    UNIQUE (credential_type, identifier),
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);

CREATE TABLE identity_recovery_addresses (
    id          CHAR(36) PRIMARY KEY,
    identity_id CHAR(36) NOT NULL,
    via         VARCHAR(16) NOT NULL,
    value       VARCHAR(320) NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    UNIQUE (via, value),
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);

CREATE TABLE identity_verifiable_addresses (
    id          CHAR(36) PRIMARY KEY,
    identity_id CHAR(36) NOT NULL,
    via         VARCHAR(16) NOT NULL,
    value       VARCHAR(320) NOT NULL,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    status      VARCHAR(16) NOT NULL,
    verified_at DATETIME(6),
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    UNIQUE (via, value),
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

-- +goose Down
DROP TABLE identity_verifiable_addresses;
DROP TABLE identity_recovery_addresses;
DROP TABLE identity_credential_identifiers;
DROP TABLE identity_credentials;
DROP TABLE identities;
