-- The audit plugin's table: one row per domain event any plugin published.
-- The row is written in the publisher's transaction, so it exists exactly when
-- the change it records was committed.
CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event        text NOT NULL,
    payload      jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
-- GET /audit?event=... walks one event name newest first: one index range scan per page.
CREATE INDEX audit_events_event_id_idx ON audit_events (event, id);
