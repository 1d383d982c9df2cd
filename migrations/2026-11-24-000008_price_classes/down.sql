-- Back to usage without a class. Dropping the column would relabel spot and reserved usage as
-- on-demand (and their digests include the class), so this refuses to run once the ledger holds
-- any; the price book in Postgres is only a copy of config/pricebook.toml and is dropped.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM usage_runs WHERE price_class <> 'on_demand')
       OR EXISTS (SELECT 1 FROM rated_usage WHERE price_class <> 'on_demand')
       OR EXISTS (SELECT 1 FROM ledger_entries WHERE price_class <> 'on_demand') THEN
        RAISE EXCEPTION 'the ledger holds spot or reserved usage; it cannot be stored without its price class';
    END IF;
END;
$$;

DROP TABLE price_versions;

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_posting_key;
ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_batch_id_tenant_id_sku_period_price_per_gpu__key
    UNIQUE (batch_id, tenant_id, sku, period, price_per_gpu_hour);
ALTER TABLE ledger_entries DROP COLUMN price_class;
ALTER TABLE rated_usage DROP COLUMN price_class;
ALTER TABLE usage_runs DROP COLUMN price_class;
