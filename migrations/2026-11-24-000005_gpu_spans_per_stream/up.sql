-- One GPU is never billed twice for the same instant, enforced per stream instead of per event.
-- Within a stream the aggregator places every event between its neighbours (the watermark state
-- knows where each seq's time may lie); across streams, the span of time a stream holds its GPU,
-- [first_start, last_end), may not overlap another allocation's span on the same GPU. The
-- exclusion constraint then checks one row per stream a batch moves, not one per event, which
-- was most of the cost of writing a batch.
ALTER TABLE usage_streams ADD COLUMN first_start TIMESTAMPTZ;
UPDATE usage_streams s SET first_start = (
    SELECT min(u.interval_start) FROM usage_events u
    WHERE (u.allocation_id, u.gpu_uuid) = (s.allocation_id, s.gpu_uuid));
ALTER TABLE usage_streams ALTER COLUMN first_start SET NOT NULL;
ALTER TABLE usage_streams ADD CHECK (last_end > first_start);
ALTER TABLE usage_streams
    ADD CONSTRAINT usage_streams_no_overlap_per_gpu
    EXCLUDE USING gist (gpu_uuid WITH =, allocation_id WITH <>, tstzrange(first_start, last_end) WITH &&);

ALTER TABLE usage_events DROP CONSTRAINT usage_events_no_overlap_per_gpu;
