-- Dedup by stream watermark. A stream is one allocation's usage of one GPU, with seq 1, 2, 3, ...
-- Per stream the ledger keeps the highest seq applied and the gaps below it: an event is already
-- applied exactly when its seq is at most max_seq and in no gap. The highest contiguous seq (the
-- watermark) is max_seq, or the first gap's first_seq - 1. Dedup state grows with the number of
-- streams and open gaps, not with the number of events.
CREATE TABLE usage_streams (
    allocation_id TEXT NOT NULL CHECK (allocation_id <> ''),
    gpu_uuid      TEXT NOT NULL CHECK (gpu_uuid <> ''),
    tenant_id     TEXT NOT NULL REFERENCES tenants,
    watermark_seq BIGINT NOT NULL CHECK (watermark_seq >= 0),
    max_seq       BIGINT NOT NULL CHECK (max_seq >= 1 AND max_seq >= watermark_seq),
    -- interval_end of the event at max_seq: where the stream's metered time ends so far.
    last_end      TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (allocation_id, gpu_uuid)
);

-- Seqs not (yet) received below a stream's max_seq: usage that is missing. The events around a
-- gap were applied with the gap recorded; an event arriving later inside it fills it. Gaps older
-- than the configured grace time are reported as missing usage.
CREATE TABLE usage_gaps (
    allocation_id TEXT NOT NULL,
    gpu_uuid      TEXT NOT NULL,
    first_seq     BIGINT NOT NULL CHECK (first_seq >= 1),
    last_seq      BIGINT NOT NULL,
    -- End of the event before the gap (NULL when the gap starts at seq 1) and start of the event
    -- after it: the time span the missing events should cover.
    missing_from  TIMESTAMPTZ,
    missing_until TIMESTAMPTZ NOT NULL,
    opened_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (allocation_id, gpu_uuid, first_seq),
    FOREIGN KEY (allocation_id, gpu_uuid) REFERENCES usage_streams ON DELETE CASCADE,
    CHECK (last_seq >= first_seq),
    CHECK (missing_from IS NULL OR missing_until >= missing_from)
);
CREATE INDEX usage_gaps_by_age ON usage_gaps (opened_at);

-- Streams and gaps of the events already in the ledger.
INSERT INTO usage_streams (allocation_id, gpu_uuid, tenant_id, watermark_seq, max_seq, last_end)
SELECT DISTINCT ON (allocation_id, gpu_uuid)
       allocation_id, gpu_uuid, tenant_id, 0, seq, interval_end
FROM usage_events
ORDER BY allocation_id, gpu_uuid, seq DESC;

INSERT INTO usage_gaps (allocation_id, gpu_uuid, first_seq, last_seq, missing_from, missing_until, opened_at)
SELECT allocation_id, gpu_uuid, coalesce(previous_seq, 0) + 1, seq - 1, previous_end, interval_start, now()
FROM (
    SELECT allocation_id, gpu_uuid, seq, interval_start,
           lag(seq) OVER stream AS previous_seq,
           lag(interval_end) OVER stream AS previous_end
    FROM usage_events
    WINDOW stream AS (PARTITION BY allocation_id, gpu_uuid ORDER BY seq)
) AS ordered
WHERE seq > coalesce(previous_seq, 0) + 1;

UPDATE usage_streams s
SET watermark_seq = coalesce(
    (SELECT min(g.first_seq) - 1 FROM usage_gaps g
     WHERE (g.allocation_id, g.gpu_uuid) = (s.allocation_id, s.gpu_uuid)),
    s.max_seq);
