-- Access control: API keys (only their SHA-256 is kept) and the audit trail of every state
-- change made through the API or the command line. Keys are never deleted, and change only by
-- being revoked (once) or used (last_used_at moves forward); the audit log is append-only.

CREATE TABLE api_keys (
    id             UUID PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'finance', 'tenant', 'node', 'portal')),
    tenant_id      TEXT REFERENCES tenants (tenant_id),
    node_id        TEXT CHECK (node_id <> '' AND char_length(node_id) <= 100),
    -- gpb_<role>_ and the first 8 hex digits of the secret, for lists; the secret is not kept.
    display_prefix TEXT NOT NULL,
    key_hash       BYTEA NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    label          TEXT NOT NULL DEFAULT '' CHECK (char_length(label) <= 100),
    -- Who made it: an admin key (`key:<uuid>`) or an operator at the command line (`cli:<user>`).
    created_by     TEXT NOT NULL CHECK (created_by <> ''),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ,
    revoked_at     TIMESTAMPTZ,
    last_used_at   TIMESTAMPTZ,
    CHECK (display_prefix ~ ('^gpb_' || role || '_[0-9a-f]{8}$')),
    CHECK ((role IN ('tenant', 'portal')) = (tenant_id IS NOT NULL)),
    CHECK ((role = 'node') = (node_id IS NOT NULL)),
    CHECK (role <> 'portal' OR expires_at IS NOT NULL),
    CHECK (expires_at IS NULL OR expires_at > created_at),
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

-- A key is revoked at most once and never un-revoked; its last use only moves forward; nothing
-- else about it ever changes, and no key is deleted (the audit log names them).
CREATE FUNCTION api_key_change_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER api_keys_guarded BEFORE UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_key_change_allowed();
CREATE TRIGGER api_keys_no_truncate BEFORE TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();

-- One row per state-changing request (or command), written once it has been answered.
CREATE TABLE audit_log (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               TIMESTAMPTZ NOT NULL,
    request_id       UUID NOT NULL,
    -- The caller: an API key (with its role and bound tenant as they were) ...
    key_id           UUID REFERENCES api_keys (id),
    key_role         TEXT CHECK (key_role IN ('admin', 'finance', 'tenant', 'node', 'portal')),
    key_tenant_id    TEXT,
    -- ... or an operator at the command line (`cli:<user>`).
    operator         TEXT CHECK (operator <> ''),
    -- `POST /v1/invoices/{number}/void`, or the command (`gpubill close`).
    action           TEXT NOT NULL CHECK (action <> ''),
    -- The tenant concerned, when there is one, and every id the request named or created.
    target_tenant_id TEXT,
    targets          JSONB NOT NULL CHECK (jsonb_typeof(targets) = 'object'),
    -- The HTTP status answered (a command's: 200 done, 500 failed).
    status           SMALLINT NOT NULL CHECK (status BETWEEN 100 AND 599),
    CHECK ((key_id IS NULL) = (key_role IS NULL)),
    CHECK ((key_id IS NULL) <> (operator IS NULL))
);
CREATE INDEX audit_log_by_target_tenant ON audit_log (target_tenant_id, id) WHERE target_tenant_id IS NOT NULL;
CREATE INDEX audit_log_by_key_tenant ON audit_log (key_tenant_id, id) WHERE key_tenant_id IS NOT NULL;
CREATE INDEX audit_log_by_key ON audit_log (key_id, id) WHERE key_id IS NOT NULL;
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
