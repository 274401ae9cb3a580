-- Idempotency-Key store (SPEC §3): the first response to a key is kept and
-- replayed; a key is claimed (in_flight) before its request runs and
-- completed in the same transaction as the request's own writes.
CREATE TABLE oms_idempotency_keys (
    scope             text NOT NULL,   -- caller and route: "user:<id> POST /orders"
    key               text NOT NULL,
    request_hash      text NOT NULL,   -- sha256 of method, path and body
    state             text NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'completed')),
    response_status   integer,
    response_headers  jsonb,
    response_body     text,
    locked_at         timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX oms_idempotency_keys_created ON oms_idempotency_keys (created_at);
