-- Account creation is bounded per client address (scope 'signup'), with the
-- same counters as failed logins.
ALTER TABLE users_login_throttle DROP CONSTRAINT users_login_throttle_scope_check;
ALTER TABLE users_login_throttle ADD CONSTRAINT users_login_throttle_scope_check
    CHECK (scope IN ('email', 'address', 'signup'));

-- Whether the latest attempt on the key was counted (not refused): what the
-- counting statement answers, since RETURNING sees only the new row.
ALTER TABLE users_login_throttle ADD COLUMN last_admitted boolean NOT NULL DEFAULT true;
