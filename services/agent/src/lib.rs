//! The node agent: meters the GPUs of the allocations running on its nodes and produces one
//! sequence-numbered usage event per GPU per interval to Kafka. `simulation` decides what to
//! emit (pure), `follow` asks the scheduler which allocations run on the node (when the agent
//! follows it rather than `cluster.toml`'s static list), `spool` keeps every event on disk until
//! the broker has acknowledged it, `run` paces the simulation, spools and produces, and `metrics` shows the spool to
//! operators.

pub mod follow;
pub mod metrics;
pub mod run;
pub mod simulation;
pub mod spool;

pub use run::{
    AgentError, AgentReport, AllocationSource, RunWindow, SHUTDOWN_GRACE, SpoolStats, run,
    run_source,
};
pub use simulation::{MeteredAllocation, Simulation};
