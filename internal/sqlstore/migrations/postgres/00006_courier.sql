-- +goose Up
CREATE TABLE courier_messages (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    status          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    template_type   TEXT NOT NULL,
    template_data   TEXT NOT NULL,
    send_count      INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_at      TIMESTAMPTZ,
    claimed_by      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- The dispatcher's claim: due queued messages, and processing ones whose claim went stale.
CREATE INDEX courier_messages_due_idx ON courier_messages (status, next_attempt_at);
CREATE INDEX courier_messages_claimed_idx ON courier_messages (status, claimed_at);
-- The admin list: newest first, optionally by status or recipient.
CREATE INDEX courier_messages_created_idx ON courier_messages (created_at, id);
CREATE INDEX courier_messages_status_created_idx ON courier_messages (status, created_at, id);
CREATE INDEX courier_messages_recipient_created_idx ON courier_messages (recipient, created_at, id);

CREATE TABLE courier_message_dispatches (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES courier_messages (id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    error      TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX courier_message_dispatches_message_idx ON courier_message_dispatches (message_id, created_at);

-- +goose Down
DROP TABLE courier_message_dispatches;
DROP TABLE courier_messages;
