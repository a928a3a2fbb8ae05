-- +goose Up
-- The used "this wasn't me" links (internal/notify). A link's token is
-- derived, not stored: mailing one writes nothing, and confirming one
-- writes its row here, so each link works once. recipient numbers the
-- addresses one event was mailed to: each has a link of its own.
-- lockdown_tokens stays for the links mailed before, until they expire.
CREATE TABLE lockdown_uses (
    event_id   TEXT NOT NULL,
    recipient  SMALLINT NOT NULL,
    used_at    TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event_id, recipient)
);
CREATE INDEX lockdown_uses_expires_idx ON lockdown_uses (expires_at);

-- +goose Down
DROP TABLE lockdown_uses;
