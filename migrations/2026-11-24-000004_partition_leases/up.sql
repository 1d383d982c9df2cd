-- Several aggregator instances share a topic's partitions. Each partition is owned by one
-- instance at a time through a lease; taking a partition over bumps owner_epoch, and every batch
-- commit renews the lease only where (owner, owner_epoch) is still the committer's, in the same
-- transaction as its offsets. An instance that lost a partition therefore cannot commit for it.
CREATE TABLE partition_leases (
    consumer    TEXT NOT NULL CHECK (consumer <> ''),
    topic       TEXT NOT NULL CHECK (topic <> ''),
    partition   INTEGER NOT NULL CHECK (partition >= 0),
    owner       TEXT NOT NULL CHECK (owner <> ''),
    owner_epoch BIGINT NOT NULL CHECK (owner_epoch >= 1),
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

-- Live aggregator instances, by heartbeat: the partitions are shared evenly among them.
CREATE TABLE aggregator_instances (
    consumer     TEXT NOT NULL CHECK (consumer <> ''),
    instance_id  TEXT NOT NULL CHECK (instance_id <> ''),
    heartbeat_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, instance_id)
);
