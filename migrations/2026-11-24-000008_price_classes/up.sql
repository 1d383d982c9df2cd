-- Price classes. A GPU is sold on demand, as spot capacity, or on a tenant's reservation, each at
-- its own list price. Runs, their rated segments and the ledger postings record the class; a run
-- never mixes classes, and postings are summed per class as well as per tenant, SKU, period and
-- price. Everything already in the ledger was sold on demand, which the default says.
ALTER TABLE usage_runs
    ADD COLUMN price_class TEXT NOT NULL DEFAULT 'on_demand'
        CHECK (price_class IN ('on_demand', 'spot', 'reserved'));
ALTER TABLE rated_usage
    ADD COLUMN price_class TEXT NOT NULL DEFAULT 'on_demand'
        CHECK (price_class IN ('on_demand', 'spot', 'reserved'));
-- A column with a constant default is added without rewriting a row, so the append-only triggers
-- of ledger_entries (row UPDATE/DELETE, TRUNCATE) are not involved.
ALTER TABLE ledger_entries
    ADD COLUMN price_class TEXT NOT NULL DEFAULT 'on_demand'
        CHECK (price_class IN ('on_demand', 'spot', 'reserved'));
-- Spot and on-demand usage of a SKU at the same price in one batch are two postings.
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_batch_id_tenant_id_sku_period_price_per_gpu__key;
ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_posting_key
    UNIQUE (batch_id, tenant_id, sku, price_class, period, price_per_gpu_hour);

-- The price book as loaded from config/pricebook.toml at every start: one row per SKU, class and
-- version. A version is immutable once loaded (a price change is a new version with a later
-- effective_from), so the prices that rated the ledger stay on record next to it. Append-only.
CREATE TABLE price_versions (
    sku                TEXT NOT NULL CHECK (sku <> ''),
    price_class        TEXT NOT NULL CHECK (price_class IN ('on_demand', 'spot', 'reserved')),
    effective_from     TIMESTAMPTZ NOT NULL,
    -- Per GPU-hour, in the book's currency.
    price_per_gpu_hour NUMERIC NOT NULL CHECK (price_per_gpu_hour > 0),
    loaded_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, price_class, effective_from)
);
CREATE TRIGGER price_versions_append_only
    BEFORE UPDATE OR DELETE ON price_versions
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER price_versions_no_truncate
    BEFORE TRUNCATE ON price_versions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
