DROP TABLE aggregator_instances;
DROP TABLE partition_leases;
