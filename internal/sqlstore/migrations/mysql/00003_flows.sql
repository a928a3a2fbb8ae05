-- +goose Up
CREATE TABLE selfservice_flows (
    id               CHAR(36) PRIMARY KEY,
    kind             VARCHAR(32) NOT NULL,
    type             VARCHAR(16) NOT NULL,
    state            VARCHAR(64) NOT NULL,
    identity_id      CHAR(36),
    csrf_fingerprint VARCHAR(128) NOT NULL DEFAULT '',
    data             LONGTEXT NOT NULL,
    submissions      INTEGER NOT NULL DEFAULT 0,
    expires_at       DATETIME(6) NOT NULL,
    created_at       DATETIME(6) NOT NULL,
    updated_at       DATETIME(6) NOT NULL,
    FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (expires_at);

CREATE TABLE selfservice_errors (
    id         CHAR(36) PRIMARY KEY,
    body       LONGTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL
);

-- +goose Down
DROP TABLE selfservice_errors;
DROP TABLE selfservice_flows;
