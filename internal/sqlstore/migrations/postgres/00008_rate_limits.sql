-- +goose Up
-- Fixed-window counters of every limit (recovery sends, login failures):
-- one counter per (scope, keyed hash of the key, window). They replace
-- recovery_rate_limits, whose counters carry over.
CREATE TABLE rate_limits (
    scope        TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (scope, key_hash, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
INSERT INTO rate_limits (scope, key_hash, window_start, count)
    SELECT scope, key_hash, window_start, count FROM recovery_rate_limits;
DROP TABLE recovery_rate_limits;

-- +goose Down
CREATE TABLE recovery_rate_limits (
    scope        TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (scope, key_hash, window_start)
);
CREATE INDEX recovery_rate_limits_window_idx ON recovery_rate_limits (window_start);
INSERT INTO recovery_rate_limits (scope, key_hash, window_start, count)
    SELECT scope, key_hash, window_start, count FROM rate_limits
    WHERE scope IN ('recovery_address', 'recovery_ip');
DROP TABLE rate_limits;
