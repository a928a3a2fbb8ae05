-- +goose Up
-- Stale claims are looked for among the few processing messages, which
-- courier_messages_claim_idx (status, priority, ...) finds by its status
-- prefix; (status, claimed_at) only made every claim and every recorded
-- result move one more index entry.
DROP INDEX courier_messages_claimed_idx;

-- +goose Down
CREATE INDEX courier_messages_claimed_idx ON courier_messages (status, claimed_at);
