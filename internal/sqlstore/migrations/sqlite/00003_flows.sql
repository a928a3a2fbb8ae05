-- +goose Up
CREATE TABLE selfservice_flows (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    type             TEXT NOT NULL,
    state            TEXT NOT NULL,
    identity_id      TEXT REFERENCES identities (id) ON DELETE CASCADE,
    csrf_fingerprint TEXT NOT NULL DEFAULT '',
    data             TEXT NOT NULL,
    submissions      INTEGER NOT NULL DEFAULT 0,
    expires_at       DATETIME NOT NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (expires_at);

CREATE TABLE selfservice_errors (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE selfservice_errors;
DROP TABLE selfservice_flows;
