-- The scheduler's decisions. Allocations are written before they are acknowledged and rebuilt
-- into memory at start-up; the live slots table makes double allocation of a GPU (or of a MIG
-- slice) impossible in the database, whatever the service does.

-- Admin state of nodes; the inventory itself is configuration (cluster.toml). A node without a
-- row is ready.
CREATE TABLE scheduler_nodes (
    node_id    TEXT PRIMARY KEY CHECK (node_id <> ''),
    state      TEXT NOT NULL CHECK (state IN ('ready', 'drained', 'down')),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE allocations (
    id                   TEXT PRIMARY KEY CHECK (id <> ''),
    tenant_id            TEXT NOT NULL REFERENCES tenants (tenant_id),
    -- Client-chosen: a retried create with the same key returns the same allocation.
    idempotency_key      TEXT CHECK (idempotency_key <> ''),
    sku                  TEXT NOT NULL CHECK (sku <> ''),
    price_class          TEXT NOT NULL CHECK (price_class IN ('on_demand', 'spot', 'reserved')),
    priority             INTEGER NOT NULL DEFAULT 0,
    units                INTEGER NOT NULL CHECK (units > 0),
    max_duration_seconds BIGINT NOT NULL CHECK (max_duration_seconds > 0),
    started_at           TIMESTAMPTZ NOT NULL,
    -- Authorized at admission (units x maximum hours x unit price, rounded up to the cent) ...
    hold_amount          NUMERIC(20, 2) NOT NULL CHECK (hold_amount >= 0),
    status               TEXT NOT NULL CHECK (status IN ('running', 'released', 'expired', 'preempted')),
    ended_at             TIMESTAMPTZ,
    -- ... and captured at the end: what the allocation's time cost, never more than the hold.
    captured_amount      NUMERIC(20, 2) CHECK (captured_amount >= 0 AND captured_amount <= hold_amount),
    preempted_by         TEXT REFERENCES allocations (id),
    -- Prepaid credit granted to the tenant for a preemption (docs/scheduler.md).
    credit_amount        NUMERIC(20, 2) CHECK (credit_amount >= 0),
    UNIQUE (tenant_id, idempotency_key),
    CHECK ((status = 'running') = (ended_at IS NULL)),
    CHECK ((status = 'running') = (captured_amount IS NULL)),
    CHECK ((status = 'preempted') = (preempted_by IS NOT NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK (price_class = 'spot' OR priority = 0)
);
CREATE INDEX allocations_running ON allocations (tenant_id) WHERE status = 'running';

-- Every GPU (or MIG instance) an allocation was given, kept after it ends for reconciliation.
-- A whole GPU is slices [0, 7) with mig false.
CREATE TABLE allocation_gpus (
    allocation_id TEXT NOT NULL REFERENCES allocations (id),
    node_id       TEXT NOT NULL CHECK (node_id <> ''),
    gpu_index     SMALLINT NOT NULL CHECK (gpu_index BETWEEN 0 AND 7),
    gpu_uuid      TEXT NOT NULL CHECK (gpu_uuid <> ''),
    mig           BOOLEAN NOT NULL,
    first_slice   SMALLINT NOT NULL CHECK (first_slice BETWEEN 0 AND 6),
    slices        SMALLINT NOT NULL CHECK (slices IN (1, 2, 3, 4, 7)),
    PRIMARY KEY (allocation_id, gpu_uuid, first_slice),
    CHECK (first_slice + slices <= 7),
    CHECK (mig OR (first_slice = 0 AND slices = 7))
);
CREATE INDEX allocation_gpus_by_gpu ON allocation_gpus (gpu_uuid);

-- The compute slices each live allocation holds on each GPU; deleted when the allocation ends.
-- No two rows of a GPU may share a slice.
CREATE TABLE live_gpu_slots (
    allocation_id TEXT NOT NULL REFERENCES allocations (id),
    gpu_uuid      TEXT NOT NULL,
    first_slice   SMALLINT NOT NULL CHECK (first_slice BETWEEN 0 AND 6),
    slices        SMALLINT NOT NULL CHECK (slices IN (1, 2, 3, 4, 7) AND first_slice + slices <= 7),
    PRIMARY KEY (allocation_id, gpu_uuid, first_slice),
    CONSTRAINT live_gpu_slots_no_double_allocation
        EXCLUDE USING gist (gpu_uuid WITH =, int4range(first_slice, first_slice + slices) WITH &&)
);
