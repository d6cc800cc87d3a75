-- Native API: remembered responses of writes sent with an Idempotency-Key (native_api/idempotency.py).
CREATE TABLE idempotency_keys (
    user_id    integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key        text NOT NULL,
    method     text NOT NULL,
    path       text NOT NULL,
    status     smallint,                 -- NULL while the first request is still running
    body       bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (user_id, created_at);
