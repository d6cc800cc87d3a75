-- Admin actions (user created/changed/deleted, roles and folders changed, passwords changed
-- by an admin, scans started): who did what to whom, when. Read with `orbsonic audit`.
-- No foreign keys: the log outlives the users it names (a deleted user stays in it).
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- also the (newest first) order
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,                                    -- username, or 'cli' for the command line
    action  text NOT NULL,                                    -- user.create, user.update, user.delete, …
    target  text NOT NULL DEFAULT '',                         -- the username acted on, if any
    details jsonb NOT NULL DEFAULT '{}'
);
