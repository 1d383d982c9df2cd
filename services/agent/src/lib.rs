//! The node agent: meters the GPUs of the allocations running on its nodes and produces one
//! sequence-numbered usage event per GPU per interval to Kafka. `simulation` decides what to
//! emit (pure), `run` paces it and produces it.

pub mod run;
pub mod simulation;

pub use run::{AgentError, AgentReport, RunWindow, run};
pub use simulation::{Simulation, gpu_uuid};
