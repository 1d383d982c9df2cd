DROP TABLE live_gpu_slots;
DROP TABLE allocation_gpus;
DROP TABLE allocations;
DROP TABLE scheduler_nodes;
