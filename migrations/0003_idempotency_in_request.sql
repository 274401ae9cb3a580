-- Idempotency-Key claims move into the request's own transaction (an advisory
-- transaction lock while the request runs, the row inserted with its answer
-- at commit), so a row is only ever 'completed'. Claims of the earlier scheme
-- that never completed belonged to requests that failed or died: drop them.
DELETE FROM oms_idempotency_keys WHERE state = 'in_flight';
ALTER TABLE oms_idempotency_keys ALTER COLUMN state SET DEFAULT 'completed';

-- The claim of (scope, key) by the calling transaction: the key's advisory
-- lock, without waiting, then the stored answer if there is one (read after
-- the lock, so an answer committed before it is seen). A key held by a running
-- request raises 55P03 (lock_not_available): the host sends its handler's
-- first statements in the same pipeline as the claim, and the error makes
-- PostgreSQL skip them, so a request that cannot have the key runs nothing.
CREATE FUNCTION oms_idempotency_claim(p_scope text, p_key text)
RETURNS TABLE (request_hash text, response_status integer, response_headers text, response_body text)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_scope || E'\n' || p_key, 0)) THEN
        RAISE EXCEPTION 'Idempotency-Key in use by a running request' USING ERRCODE = '55P03';
    END IF;
    RETURN QUERY
        SELECT k.request_hash, k.response_status, k.response_headers::text, k.response_body
        FROM oms_idempotency_keys k
        WHERE k.scope = p_scope AND k.key = p_key AND k.state = 'completed';
END
$$;
