-- Back to UTC months for every tenant. A tenant billed in another zone's months has usage booked
-- and invoices keyed by months UTC does not have, so this refuses to run while there is one.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM tenants t
               WHERE t.time_zone <> 'UTC'
                 AND (EXISTS (SELECT 1 FROM usage_bookings b WHERE b.tenant_id = t.tenant_id)
                      OR EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = t.tenant_id))) THEN
        RAISE EXCEPTION 'tenants are billed in the months of a time zone other than UTC; they cannot be billed in UTC months';
    END IF;
END;
$$;

DROP TRIGGER tenants_time_zone_fixed_once_billed ON tenants;
DROP FUNCTION reject_billed_time_zone_change();
ALTER TABLE tenants DROP COLUMN time_zone;
