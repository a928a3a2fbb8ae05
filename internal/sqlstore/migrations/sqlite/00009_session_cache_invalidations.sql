-- +goose Up
-- Cross-instance invalidation of the whoami cache. SQLite serves one
-- process, which invalidates its own cache directly, so these tables stay
-- empty here; they exist so that one version means one schema.
CREATE TABLE session_cache_counter (
    id       INTEGER PRIMARY KEY,
    last_seq BIGINT NOT NULL
);
INSERT INTO session_cache_counter (id, last_seq) VALUES (1, 0);

CREATE TABLE session_cache_invalidations (
    seq        BIGINT NOT NULL,
    target_id  TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (seq, target_id)
);
CREATE INDEX session_cache_invalidations_created_idx ON session_cache_invalidations (created_at);

-- +goose Down
DROP TABLE session_cache_invalidations;
DROP TABLE session_cache_counter;
