-- +goose Up
CREATE TABLE courier_messages (
    id              CHAR(36) PRIMARY KEY,
    type            VARCHAR(16) NOT NULL,
    status          VARCHAR(16) NOT NULL,
    recipient       VARCHAR(255) NOT NULL,
    subject         TEXT NOT NULL,
    body            LONGTEXT NOT NULL,
    template_type   VARCHAR(64) NOT NULL,
    template_data   LONGTEXT NOT NULL,
    send_count      INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at DATETIME(6) NOT NULL,
    claimed_at      DATETIME(6),
    claimed_by      VARCHAR(64),
    created_at      DATETIME(6) NOT NULL,
    updated_at      DATETIME(6) NOT NULL
);
-- The dispatcher's claim: due queued messages, and processing ones whose claim went stale.
CREATE INDEX courier_messages_due_idx ON courier_messages (status, next_attempt_at);
CREATE INDEX courier_messages_claimed_idx ON courier_messages (status, claimed_at);
-- The admin list: newest first, optionally by status or recipient.
CREATE INDEX courier_messages_created_idx ON courier_messages (created_at, id);
CREATE INDEX courier_messages_status_created_idx ON courier_messages (status, created_at, id);
CREATE INDEX courier_messages_recipient_created_idx ON courier_messages (recipient, created_at, id);

CREATE TABLE courier_message_dispatches (
    id         CHAR(36) PRIMARY KEY,
    message_id CHAR(36) NOT NULL,
    status     VARCHAR(16) NOT NULL,
    error      TEXT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (message_id) REFERENCES courier_messages (id) ON DELETE CASCADE
);
CREATE INDEX courier_message_dispatches_message_idx ON courier_message_dispatches (message_id, created_at);

-- +goose Down
DROP TABLE courier_message_dispatches;
DROP TABLE courier_messages;
