-- Usage evidence per run instead of per event. A run is a stretch of one stream's events applied
-- in one batch that follow each other without a hole: consecutive seqs, each interval starting
-- where the one before ended, one node, tenant and SKU. Of each event the run keeps a 16-byte
-- content digest, so an event repeated later is still told from a conflicting one, and nothing
-- else: a batch then writes a row per stream it moves instead of a row per event, which was the
-- aggregator's remaining cost per event. The rated segments of a run are split, as before, where
-- a billing period ends or the price changes.
CREATE TABLE usage_runs (
    allocation_id    TEXT NOT NULL,
    gpu_uuid         TEXT NOT NULL,
    first_seq        BIGINT NOT NULL CHECK (first_seq >= 1),
    last_seq         BIGINT NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants,
    node_id          TEXT NOT NULL CHECK (node_id <> ''),
    sku              TEXT NOT NULL CHECK (sku <> ''),
    run_start        TIMESTAMPTZ NOT NULL,
    run_end          TIMESTAMPTZ NOT NULL,
    -- Exact: the sum of the events' GPU-seconds, to the nanosecond.
    gpu_seconds      NUMERIC NOT NULL CHECK (gpu_seconds > 0),
    -- Per event, in seq order: the first 16 bytes of SHA-256 over
    -- `event_id|tenant_id|node_id|sku|start µs|end µs|gpu_seconds` (schema::event::content_digest).
    event_digests    BYTEA NOT NULL,
    source_partition INTEGER NOT NULL CHECK (source_partition >= 0),
    first_offset     BIGINT NOT NULL CHECK (first_offset >= 0),
    last_offset      BIGINT NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (allocation_id, gpu_uuid, first_seq),
    FOREIGN KEY (allocation_id, gpu_uuid) REFERENCES usage_streams,
    CHECK (last_seq >= first_seq),
    CHECK (run_end > run_start),
    CHECK (last_offset >= first_offset),
    CHECK (octet_length(event_digests) = 16 * (last_seq - first_seq + 1)),
    -- Without holes: the quantity is the run's length (timestamps are stored to the microsecond).
    CHECK (abs(gpu_seconds - extract(epoch FROM run_end - run_start)) < 0.000002),
    -- No seq of a stream is in two runs, whatever batches or instances wrote them.
    CONSTRAINT usage_runs_seqs_disjoint EXCLUDE USING gist (
        allocation_id WITH =, gpu_uuid WITH =, int8range(first_seq, last_seq, '[]') WITH &&)
);
-- Digests do not compress: storing them uncompressed saves the attempt, and lets a look-up read
-- the 16 bytes of one event without the rest.
ALTER TABLE usage_runs ALTER COLUMN event_digests SET STORAGE EXTERNAL;

-- Every event already in the ledger becomes a run of one.
INSERT INTO usage_runs (allocation_id, gpu_uuid, first_seq, last_seq, tenant_id, node_id, sku,
                        run_start, run_end, gpu_seconds, event_digests, source_partition,
                        first_offset, last_offset, ingested_at)
SELECT allocation_id, gpu_uuid, seq, seq, tenant_id, node_id, sku, interval_start, interval_end,
       gpu_seconds,
       substring(sha256(convert_to(concat_ws('|', event_id, tenant_id, node_id, sku,
           (extract(epoch FROM interval_start) * 1000000)::bigint,
           (extract(epoch FROM interval_end) * 1000000)::bigint,
           trim_scale(gpu_seconds)), 'UTF8')) FROM 1 FOR 16),
       source_partition, source_offset, source_offset, ingested_at
FROM usage_events;

-- Rated segments now belong to a run, named by its first seq.
ALTER TABLE rated_usage DROP CONSTRAINT rated_usage_allocation_id_gpu_uuid_seq_fkey;
ALTER TABLE rated_usage RENAME COLUMN seq TO first_seq;
ALTER TABLE rated_usage
    ADD FOREIGN KEY (allocation_id, gpu_uuid, first_seq) REFERENCES usage_runs;

DROP TABLE usage_events;
