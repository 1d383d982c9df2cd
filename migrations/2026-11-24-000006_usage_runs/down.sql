-- Back to a row per event. Only runs of one event can be split back (a longer run does not keep
-- each event's interval), so this refuses to run once the aggregator has written longer ones.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM usage_runs WHERE last_seq > first_seq) THEN
        RAISE EXCEPTION 'usage_runs holds runs of several events; they cannot be split back into usage_events';
    END IF;
END;
$$;

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

-- The event id is not kept in a run; it is derived from the stream position (UUID v5 over
-- `allocation/gpu/seq` in the event-id namespace), as the aggregator requires of every event.
-- uuid-ossp is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
INSERT INTO usage_events (allocation_id, gpu_uuid, seq, event_id, tenant_id, node_id, sku,
                          interval_start, interval_end, gpu_seconds, source_partition,
                          source_offset, ingested_at)
SELECT allocation_id, gpu_uuid, first_seq,
       uuid_generate_v5('67707562-696c-6c2d-7573-6167652d7631'::uuid,
                        allocation_id || '/' || gpu_uuid || '/' || first_seq),
       tenant_id, node_id, sku, run_start, run_end, gpu_seconds, source_partition, first_offset,
       ingested_at
FROM usage_runs;

ALTER TABLE rated_usage DROP CONSTRAINT rated_usage_allocation_id_gpu_uuid_first_seq_fkey;
ALTER TABLE rated_usage RENAME COLUMN first_seq TO seq;
ALTER TABLE rated_usage ADD FOREIGN KEY (allocation_id, gpu_uuid, seq) REFERENCES usage_events;

DROP TABLE usage_runs;
