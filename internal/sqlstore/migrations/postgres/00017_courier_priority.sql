-- +goose Up
-- Claims take interactive mail (codes and links someone is waiting for, 0)
-- before bulk mail (security notifications, 1), then due time as before
-- (courier.PriorityOf). 0 is the default, so rows written by an instance
-- still running the previous version are claimed as they were.
ALTER TABLE courier_messages ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0;
UPDATE courier_messages SET priority = 1
    WHERE status IN ('queued', 'processing') AND template_type LIKE 'security%';
-- The claim reads due queued messages in this order. This index replaces
-- (status, next_attempt_at), which only the claim used; counting queued
-- messages uses the status prefix of this one.
DROP INDEX courier_messages_due_idx;
CREATE INDEX courier_messages_claim_idx ON courier_messages (status, priority, next_attempt_at, id);

-- +goose Down
DROP INDEX courier_messages_claim_idx;
CREATE INDEX courier_messages_due_idx ON courier_messages (status, next_attempt_at);
ALTER TABLE courier_messages DROP COLUMN priority;
