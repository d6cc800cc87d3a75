-- Failed logins per user name and per client address (issue 6 §2: 50 wrong passwords in 0.04 s,
-- then the right one worked). Every worker and replica must see the same counts, so they live
-- here (orbsonic/auth/ratelimit.py). UNLOGGED: a crash only forgets recent failures, and the
-- table is written on every failed login, which need not cost WAL.
CREATE UNLOGGED TABLE login_failures (
    scope    text        NOT NULL CHECK (scope IN ('user', 'address')),
    subject  text        NOT NULL,              -- the user name as sent, or the client address
    failures integer     NOT NULL,              -- consecutive, each within the lockout of the last
    last_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, subject)
);
-- Old rows are deleted by age on every recorded failure.
CREATE INDEX login_failures_last_at ON login_failures (last_at);
