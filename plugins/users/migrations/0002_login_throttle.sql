-- Failed logins per email and per client address, shared by every host on
-- the database. A key is locked for one window once it reaches its limit.
CREATE TABLE users_login_throttle (
    scope              text NOT NULL CHECK (scope IN ('email', 'address')),
    key                text NOT NULL,
    failures           integer NOT NULL,
    window_started_at  timestamptz NOT NULL,
    locked_until       timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX users_login_throttle_started ON users_login_throttle (window_started_at);
