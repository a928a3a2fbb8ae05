-- +goose Up
-- Cross-instance invalidation of the whoami cache (see whoamiCache and
-- invalidations.go). Every transaction that changes sessions or identities
-- takes the next number from session_cache_counter (its row lock makes
-- these transactions commit in number order, and a rollback gives the
-- number back) and appends one row per changed session or identity id;
-- every instance reads the rows past the last number it has seen.
CREATE TABLE session_cache_counter (
    id       INTEGER PRIMARY KEY,
    last_seq BIGINT NOT NULL
);
INSERT INTO session_cache_counter (id, last_seq) VALUES (1, 0);

CREATE TABLE session_cache_invalidations (
    seq        BIGINT NOT NULL,
    target_id  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (seq, target_id)
);
CREATE INDEX session_cache_invalidations_created_idx ON session_cache_invalidations (created_at);

-- +goose Down
DROP TABLE session_cache_invalidations;
DROP TABLE session_cache_counter;
