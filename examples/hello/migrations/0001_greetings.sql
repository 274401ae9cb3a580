-- The hello plugin's own table: one row per greeting it answered.
-- Prefix table names with the plugin name so plugins never collide.
-- Migrations are applied once, in version order (the NNNN_ of the file name),
-- each in its own transaction; never edit one that has shipped, add 0002_...
CREATE TABLE hello_greetings (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    greeted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hello_greetings_name_idx ON hello_greetings (name);
