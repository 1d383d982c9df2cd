//! The scheduler service: allocates GPUs to tenants under quota and budget. Decisions come from
//! the pure `gpubill_domain::scheduler`; this crate holds the decision state in memory behind a
//! single writer, writes every decision to Postgres before it is acknowledged (`store`), rebuilds
//! the state from Postgres at start-up, keeps ledger figures fresh for quota checks that never
//! read Postgres, and reconciles allocations against metered usage (`reconcile`). One instance
//! decides at a time (`leadership`); another serves reads only. `metrics` publishes what it holds
//! and decides.

pub mod error;
pub mod inventory;
pub mod leadership;
pub mod metrics;
pub mod model;
pub mod reconcile;
pub mod service;
pub mod store;

pub use error::SchedulerError;
pub use model::{
    AllocatedGpu, Allocation, AllocationRequest, AllocationStatus, QuotaCheck, QuotaVerdict,
};
pub use service::{Created, Scheduler, Standing, StateSnapshot};
