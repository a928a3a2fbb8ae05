-- +goose Up
-- The instances that serve whoami lookups from a cache (invalidations.go):
-- each row says up to which invalidation number the instance has applied,
-- and until when, on the database's clock (milliseconds since 1970), it
-- may serve from its cache. A change then waits only for the live
-- instances that have not applied it yet, instead of a whole lease.
-- (Unused on SQLite, which one instance owns; created for one schema.)
CREATE TABLE session_cache_instances (
    instance_id     TEXT PRIMARY KEY,
    applied_through BIGINT NOT NULL,
    valid_until     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE session_cache_instances;
