-- The customer portal's sessions. A session is a portal key (role `portal`, one tenant, always
-- expiring) held by the browser in an HttpOnly cookie; `parent_key_id` names the key it was
-- opened with (the tenant key pasted into the sign-in form, or the key that minted the link), and
-- revoking that key revokes its sessions. A minted link is a one-time token: only its SHA-256 is
-- kept, and it is used at most once, before it expires.

ALTER TABLE api_keys ADD COLUMN parent_key_id UUID REFERENCES api_keys (id);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_parent_only_for_portal
    CHECK (parent_key_id IS NULL OR (role = 'portal' AND parent_key_id <> id));

-- The column joins the ones that never change.
CREATE OR REPLACE FUNCTION api_key_change_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'api_keys: % rejected; revoke the key instead', TG_OP;
    END IF;
    IF (NEW.id, NEW.role, NEW.tenant_id, NEW.node_id, NEW.display_prefix, NEW.key_hash, NEW.label,
        NEW.created_by, NEW.created_at, NEW.expires_at, NEW.parent_key_id)
       IS DISTINCT FROM
       (OLD.id, OLD.role, OLD.tenant_id, OLD.node_id, OLD.display_prefix, OLD.key_hash, OLD.label,
        OLD.created_by, OLD.created_at, OLD.expires_at, OLD.parent_key_id) THEN
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

-- A session opens only under a live key and never outlives it; a live session under a revoked
-- key cannot exist (revoking a key revokes its sessions in the same transaction).
CREATE FUNCTION api_key_parent_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent api_keys%ROWTYPE;
BEGIN
    IF NEW.parent_key_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT * INTO parent FROM api_keys WHERE id = NEW.parent_key_id;
    IF parent.revoked_at IS NOT NULL AND parent.revoked_at <= NEW.created_at THEN
        RAISE EXCEPTION 'api_keys: key % is revoked: no session opens under it', parent.id;
    END IF;
    IF parent.expires_at IS NOT NULL AND NEW.expires_at > parent.expires_at THEN
        RAISE EXCEPTION 'api_keys: a session may not outlive key %', parent.id;
    END IF;
    IF parent.role = 'tenant' AND parent.tenant_id IS DISTINCT FROM NEW.tenant_id THEN
        RAISE EXCEPTION 'api_keys: a session of tenant % under a key of tenant %',
            NEW.tenant_id, parent.tenant_id;
    END IF;
    IF parent.role NOT IN ('admin', 'finance', 'tenant') THEN
        RAISE EXCEPTION 'api_keys: a % key cannot open a portal session', parent.role;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER api_keys_parent_live BEFORE INSERT ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_key_parent_live();
CREATE INDEX api_keys_by_parent ON api_keys (parent_key_id) WHERE parent_key_id IS NOT NULL;

CREATE TABLE portal_links (
    id             UUID PRIMARY KEY,
    token_hash     BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    tenant_id      TEXT NOT NULL REFERENCES tenants (tenant_id),
    -- The key that minted it: the session it opens is that key's child.
    minted_by      UUID NOT NULL REFERENCES api_keys (id),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    -- Set once, when the link is exchanged for a session.
    used_at        TIMESTAMPTZ,
    session_key_id UUID REFERENCES api_keys (id),
    CHECK (expires_at > created_at),
    CHECK ((used_at IS NULL) = (session_key_id IS NULL)),
    CHECK (used_at IS NULL OR (used_at >= created_at AND used_at < expires_at))
);

-- A link is used once: nothing but its first use ever changes, and no link is deleted.
CREATE FUNCTION portal_link_change_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'portal_links: % rejected', TG_OP;
    END IF;
    IF OLD.used_at IS NOT NULL THEN
        RAISE EXCEPTION 'portal_links: link % was already used', OLD.id;
    END IF;
    IF (NEW.id, NEW.token_hash, NEW.tenant_id, NEW.minted_by, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.token_hash, OLD.tenant_id, OLD.minted_by, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'portal_links: only used_at and session_key_id may change';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER portal_links_guarded BEFORE UPDATE OR DELETE ON portal_links
    FOR EACH ROW EXECUTE FUNCTION portal_link_change_allowed();
CREATE TRIGGER portal_links_no_truncate BEFORE TRUNCATE ON portal_links
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
