DROP TABLE portal_links;
DROP FUNCTION portal_link_change_allowed();
DROP TRIGGER api_keys_parent_live ON api_keys;
DROP FUNCTION api_key_parent_live();
DROP INDEX api_keys_by_parent;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_parent_only_for_portal;
ALTER TABLE api_keys DROP COLUMN parent_key_id;
CREATE OR REPLACE FUNCTION api_key_change_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'api_keys: % rejected; revoke the key instead', TG_OP;
    END IF;
    IF (NEW.id, NEW.role, NEW.tenant_id, NEW.node_id, NEW.display_prefix, NEW.key_hash, NEW.label,
        NEW.created_by, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.role, OLD.tenant_id, OLD.node_id, OLD.display_prefix, OLD.key_hash, OLD.label,
        OLD.created_by, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'api_keys: only revoked_at and last_used_at may change';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'api_keys: key % is already revoked', OLD.id;
    END IF;
    IF NEW.last_used_at IS NULL AND OLD.last_used_at IS NOT NULL
       OR NEW.last_used_at < OLD.last_used_at THEN
        RAISE EXCEPTION 'api_keys: last_used_at only moves forward';
    END IF;
    RETURN NEW;
END;
$$;
