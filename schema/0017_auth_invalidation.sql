-- Credential-cache invalidation (orbsonic/auth/cache.py, issue 13): any change of a users
-- row (password, roles, folders, deletion) or of an API key, by any writer — the app,
-- the CLI, or SQL by hand — sends NOTIFY orbsonic_auth '<user id>' on commit, so every
-- worker and replica drops the cached credentials of that user.
CREATE FUNCTION orbsonic_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('orbsonic_auth', OLD.id::text);
    ELSE
        PERFORM pg_notify('orbsonic_auth', OLD.user_id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_auth_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION orbsonic_auth_changed();
-- last_used_at is touched by every API-key login (once a minute): not a change of the key.
CREATE TRIGGER api_keys_auth_changed AFTER DELETE OR UPDATE OF user_id, key_sha256 ON api_keys
    FOR EACH ROW EXECUTE FUNCTION orbsonic_auth_changed();
