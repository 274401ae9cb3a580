-- SQL helpers the host provides to every plugin (see docs/plugin-guide.md):
-- the API's JSON forms of money and time, so that a plugin can have PostgreSQL
-- build an answer's JSON and pass the text through, instead of parsing it into
-- a document and writing it out again. Both are inlined by the planner.

-- Minor units → the API's number in major units (9999 INR → 99.99, 10000 → 100),
-- exactly as <oms/money.hpp>'s to_json; its currency table and this one are
-- checked against each other by sdk_test.
CREATE FUNCTION oms_money_json(minor bigint, currency text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT trim_scale(minor::numeric / CASE
        WHEN currency IN ('JPY', 'KRW', 'VND') THEN 1
        WHEN currency IN ('KWD', 'BHD', 'OMR') THEN 1000
        ELSE 100 END)
$$;

-- A timestamptz → RFC 3339 in UTC with PostgreSQL's own trimming of the
-- fraction ("2026-11-25T09:01:43.12Z", "2026-11-25T09:01:40Z"), as
-- oms::to_rfc3339 gives for a column; NULL stays NULL.
CREATE FUNCTION oms_time_json(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT rtrim(rtrim(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z'
$$;
