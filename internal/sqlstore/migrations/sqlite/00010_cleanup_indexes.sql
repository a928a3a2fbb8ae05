-- +goose Up
-- `latchkey cleanup sql` and serve's periodic cleanup delete rows by these
-- timestamps, oldest first, in small batches: each batch must find its
-- rows through an index, not a table scan. (selfservice_flows.expires_at,
-- recovery_rate_limits.window_start and courier_messages (status,
-- created_at) are indexed already.)
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX recovery_codes_expires_idx ON recovery_codes (expires_at);
CREATE INDEX recovery_tokens_expires_idx ON recovery_tokens (expires_at);
CREATE INDEX selfservice_errors_created_idx ON selfservice_errors (created_at);

-- +goose Down
DROP INDEX selfservice_errors_created_idx;
DROP INDEX recovery_tokens_expires_idx;
DROP INDEX recovery_codes_expires_idx;
DROP INDEX sessions_expires_idx;
