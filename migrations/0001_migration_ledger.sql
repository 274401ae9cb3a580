-- The ledger of applied migrations, for the host and every plugin.
-- The runner compares each file's SHA-256 with `checksum` at start-up.
CREATE TABLE oms_migrations (
    plugin       text        NOT NULL,
    version      integer     NOT NULL CHECK (version > 0),
    name         text        NOT NULL,
    checksum     text        NOT NULL,
    execution_ms integer     NOT NULL DEFAULT 0,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plugin, version)
);
