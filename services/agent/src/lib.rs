//! The node agent: meters the GPUs of the allocations running on its nodes and produces one
//! sequence-numbered usage event per GPU per interval to Kafka. `simulation` decides what to
//! emit (pure), `spool` keeps every event on disk until the broker has acknowledged it, and
//! `run` paces the simulation, spools and produces.

pub mod run;
pub mod simulation;
pub mod spool;

pub use run::{AgentError, AgentReport, RunWindow, SHUTDOWN_GRACE, SpoolStats, run};
pub use simulation::Simulation;
