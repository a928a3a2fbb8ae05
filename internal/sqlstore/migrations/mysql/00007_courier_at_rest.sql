-- +goose Up
-- When a message stops being useful (its code or link expires): retries end
-- then. NULL (messages queued before this migration) means created_at + 1h.
ALTER TABLE courier_messages ADD COLUMN expires_at DATETIME(6);
-- Subject, body and template data are now sealed (secrets.cipher) and wiped
-- once a message is sent or abandoned. Wipe what was kept in clear before.
UPDATE courier_messages SET subject = '[redacted]', body = '[redacted]'
    WHERE status IN ('sent', 'abandoned')
    AND template_type IN ('recovery_code_valid', 'recovery_valid', 'verification_code_valid', 'verification_valid');
UPDATE courier_messages SET template_data = '{}' WHERE status IN ('sent', 'abandoned');

-- +goose Down
ALTER TABLE courier_messages DROP COLUMN expires_at;
