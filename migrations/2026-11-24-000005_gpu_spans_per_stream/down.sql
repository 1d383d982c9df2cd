ALTER TABLE usage_events
    ADD CONSTRAINT usage_events_no_overlap_per_gpu
    EXCLUDE USING gist (gpu_uuid WITH =, tstzrange(interval_start, interval_end) WITH &&);
ALTER TABLE usage_streams DROP CONSTRAINT usage_streams_no_overlap_per_gpu;
ALTER TABLE usage_streams DROP COLUMN first_start;
