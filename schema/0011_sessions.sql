-- Native API login sessions (orbsonic/auth/sessions.py, docs/native-api.md "Auth").
-- A session is one login of one client: its access tokens (short-lived JWTs) name it in their
-- `sid` claim and are accepted only while its row exists with revoked_at NULL, so a logout is
-- seen by every worker and replica on their next request (one primary-key lookup), and
-- sessions survive a restart. Refresh tokens are stored only as SHA-256; the previous one is
-- kept to detect the reuse of a rotated token (RFC 9700 §4.14.2: revoke the whole session).
CREATE TABLE sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client             text NOT NULL DEFAULT '',
    created            timestamptz NOT NULL DEFAULT now(),
    last_seen          timestamptz NOT NULL DEFAULT now(),
    refresh_hash       bytea NOT NULL UNIQUE,
    prev_refresh_hash  bytea UNIQUE,
    revoked_at         timestamptz
);
-- A user's live sessions (GET /auth/sessions, logout-all, the password-change revocation).
CREATE INDEX sessions_user ON sessions (user_id, created, id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- A changed password revokes the user's sessions, whatever path changed it (Subsonic
-- changePassword/updateUser, `orbsonic user passwd`, native POST /me/password). The session
-- that changed it survives when the transaction names it in `orbsonic.keep_session`.
CREATE FUNCTION sessions_revoke_on_password_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions SET revoked_at = now()
     WHERE user_id = NEW.id AND revoked_at IS NULL
       AND id::text IS DISTINCT FROM nullif(current_setting('orbsonic.keep_session', true), '');
    RETURN NULL;
END
$$;
CREATE TRIGGER users_password_revokes_sessions
    AFTER UPDATE OF password_hash ON users
    FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION sessions_revoke_on_password_change();
