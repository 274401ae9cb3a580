-- Longer than the OMS_DB_STATEMENT_TIMEOUT_MS the test sets (200 ms).
SELECT pg_sleep(0.6);
CREATE TABLE slow_migration_done (id int);
