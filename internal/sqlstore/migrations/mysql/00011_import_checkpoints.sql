-- +goose Up
-- Where an interrupted `latchkey import kratos` goes on: the last source
-- identity id whose batch committed, written in the same transaction as
-- the batch. A finished import deletes its row, so running it again
-- starts over (and updates what changed).
CREATE TABLE import_checkpoints (
    source           VARCHAR(255) PRIMARY KEY,
    last_identity_id VARCHAR(64) NOT NULL,
    done             BIGINT NOT NULL,
    started_at       DATETIME(6) NOT NULL,
    updated_at       DATETIME(6) NOT NULL
);

-- +goose Down
DROP TABLE import_checkpoints;
