-- The metering ledger: tenants, accepted usage events, their rated segments, ledger postings per
-- batch, and the Kafka offsets consumed, all written in one transaction per batch.

CREATE TABLE tenants (
    tenant_id  TEXT PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       TEXT NOT NULL CHECK (name <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per accepted usage event. The primary key is the stream position (allocation, GPU,
-- seq): a second event at the same position is a duplicate and is never billed.
CREATE TABLE usage_events (
    allocation_id    TEXT NOT NULL CHECK (allocation_id <> ''),
    gpu_uuid         TEXT NOT NULL CHECK (gpu_uuid <> ''),
    seq              BIGINT NOT NULL CHECK (seq >= 1),
    event_id         UUID NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL REFERENCES tenants,
    node_id          TEXT NOT NULL CHECK (node_id <> ''),
    sku              TEXT NOT NULL CHECK (sku <> ''),
    interval_start   TIMESTAMPTZ NOT NULL,
    interval_end     TIMESTAMPTZ NOT NULL,
    gpu_seconds      NUMERIC NOT NULL CHECK (gpu_seconds > 0),
    source_partition INTEGER NOT NULL CHECK (source_partition >= 0),
    source_offset    BIGINT NOT NULL CHECK (source_offset >= 0),
    ingested_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (allocation_id, gpu_uuid, seq),
    CHECK (interval_end > interval_start)
);

-- A usage event split where a billing period ends or a price changes: one period, one price.
CREATE TABLE rated_usage (
    allocation_id      TEXT NOT NULL,
    gpu_uuid           TEXT NOT NULL,
    seq                BIGINT NOT NULL,
    segment            SMALLINT NOT NULL CHECK (segment >= 0),
    tenant_id          TEXT NOT NULL REFERENCES tenants,
    sku                TEXT NOT NULL,
    period             DATE NOT NULL CHECK (extract(day FROM period) = 1),
    segment_start      TIMESTAMPTZ NOT NULL,
    segment_end        TIMESTAMPTZ NOT NULL,
    gpu_seconds        NUMERIC NOT NULL CHECK (gpu_seconds > 0),
    price_per_gpu_hour NUMERIC NOT NULL CHECK (price_per_gpu_hour > 0),
    amount             NUMERIC NOT NULL CHECK (amount > 0),
    PRIMARY KEY (allocation_id, gpu_uuid, seq, segment),
    FOREIGN KEY (allocation_id, gpu_uuid, seq) REFERENCES usage_events,
    CHECK (segment_end > segment_start)
);
CREATE INDEX rated_usage_by_tenant_time ON rated_usage (tenant_id, segment_start);

-- Postings: per batch, the rated quantity per tenant, SKU, period and price. Invoices sum these.
-- Append-only: a correction is a new posting, never an edit.
CREATE TABLE ledger_entries (
    entry_id           BIGSERIAL PRIMARY KEY,
    batch_id           UUID NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants,
    sku                TEXT NOT NULL,
    period             DATE NOT NULL CHECK (extract(day FROM period) = 1),
    price_per_gpu_hour NUMERIC NOT NULL CHECK (price_per_gpu_hour > 0),
    gpu_seconds        NUMERIC NOT NULL CHECK (gpu_seconds > 0),
    amount             NUMERIC NOT NULL CHECK (amount > 0),
    segment_count        INTEGER NOT NULL CHECK (segment_count > 0),
    booked_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (batch_id, tenant_id, sku, period, price_per_gpu_hour)
);
CREATE INDEX ledger_entries_by_tenant_period ON ledger_entries (tenant_id, period);

CREATE FUNCTION reject_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % rejected', TG_OP;
END;
$$;
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();

-- The next Kafka offset to consume per consumer, topic and partition, committed in the same
-- transaction as the rows that consuming produced.
CREATE TABLE consumer_offsets (
    consumer    TEXT NOT NULL CHECK (consumer <> ''),
    topic       TEXT NOT NULL CHECK (topic <> ''),
    partition   INTEGER NOT NULL CHECK (partition >= 0),
    next_offset BIGINT NOT NULL CHECK (next_offset >= 0),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
