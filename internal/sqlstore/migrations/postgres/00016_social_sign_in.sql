-- +goose Up
-- One row per trip to a social sign-in provider. The state parameter is kept
-- only as a keyed hash; the nonce and PKCE verifier are sealed with
-- secrets.cipher. browser is the anti-CSRF fingerprint of the browser that
-- left ('' for an app's flow, which proves itself with its exchange code).
-- A row is spent once (used_at) and dies with its flow.
CREATE TABLE social_round_trips (
    id          TEXT PRIMARY KEY,
    state_hash  TEXT NOT NULL,
    flow_id     TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    flow_kind   TEXT NOT NULL,
    provider    TEXT NOT NULL,
    browser     TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX social_round_trips_state_idx ON social_round_trips (state_hash);
CREATE INDEX social_round_trips_flow_idx ON social_round_trips (flow_id);
CREATE INDEX social_round_trips_expires_idx ON social_round_trips (expires_at);

-- A native app's social sign-in ends in the system browser; the app then
-- trades the init code (given with its flow) and the return_to code (given
-- to its return_to) for the session token. Codes are keyed hashes, the token
-- is sealed until it is taken, once.
CREATE TABLE session_token_exchanges (
    id                  TEXT PRIMARY KEY,
    flow_id             TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    init_code_hash      TEXT NOT NULL,
    return_to_code_hash TEXT,
    session_id          TEXT,
    sealed_token        TEXT,
    expires_at          TIMESTAMPTZ NOT NULL,
    used_at             TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX session_token_exchanges_init_idx ON session_token_exchanges (init_code_hash);
CREATE INDEX session_token_exchanges_flow_idx ON session_token_exchanges (flow_id);
CREATE INDEX session_token_exchanges_expires_idx ON session_token_exchanges (expires_at);

-- +goose Down
DROP TABLE session_token_exchanges;
DROP TABLE social_round_trips;
