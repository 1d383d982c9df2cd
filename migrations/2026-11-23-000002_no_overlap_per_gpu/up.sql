-- One GPU cannot be used twice at the same instant: no two usage events of a GPU may overlap in
-- time, whatever their allocation. btree_gist is a trusted extension (PostgreSQL 13+): the
-- database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE usage_events
    ADD CONSTRAINT usage_events_no_overlap_per_gpu
    EXCLUDE USING gist (gpu_uuid WITH =, tstzrange(interval_start, interval_end) WITH &&);
