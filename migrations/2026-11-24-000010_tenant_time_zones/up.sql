-- Tenant time zones. A tenant's billing period is a calendar month of its time zone, an IANA name
-- such as 'Europe/Paris' (gpubill checks the name against its own time-zone database when it
-- loads cluster.toml). Every tenant so far was billed in UTC months, which the default keeps.
-- Usage is booked on, and invoices are keyed by, the first day of the tenant's local month, so the
-- period columns keep their meaning: a month, now read in the tenant's zone.
ALTER TABLE tenants
    ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC' CHECK (time_zone <> '');

-- Once a tenant has usage booked or an invoice, its months are fixed: that usage was cut at the
-- old zone's midnights and its reservations were invoiced for the old zone's months, so moving
-- the boundaries would bill some hours twice and others never. (A tenant with neither may still
-- change zone.)
CREATE FUNCTION reject_billed_time_zone_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.time_zone IS DISTINCT FROM OLD.time_zone
       AND (EXISTS (SELECT 1 FROM usage_bookings WHERE tenant_id = OLD.tenant_id)
            OR EXISTS (SELECT 1 FROM invoices WHERE tenant_id = OLD.tenant_id)) THEN
        RAISE EXCEPTION 'tenant % is billed in calendar months of %, where it has usage or invoices: its time zone cannot change to %',
            OLD.tenant_id, OLD.time_zone, NEW.time_zone
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tenants_time_zone_fixed_once_billed
    BEFORE UPDATE OF time_zone ON tenants
    FOR EACH ROW EXECUTE FUNCTION reject_billed_time_zone_change();
