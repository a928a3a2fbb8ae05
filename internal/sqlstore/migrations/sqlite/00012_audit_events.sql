-- +goose Up
-- The audit log (internal/audit): append-only; rows go only when older
-- than audit.retention. No foreign key to identities: the record of what
-- happened to an account outlives the account. ids are UUIDv7, so they
-- sort in the order events were written.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    created_at  DATETIME NOT NULL,
    type        TEXT NOT NULL,
    identity_id TEXT,
    actor       TEXT NOT NULL,
    flow_id     TEXT,
    method      TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    result      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE INDEX audit_events_identity_idx ON audit_events (identity_id, id);
CREATE INDEX audit_events_type_idx ON audit_events (type, id);
CREATE INDEX audit_events_created_idx ON audit_events (created_at);

-- +goose Down
DROP TABLE audit_events;
