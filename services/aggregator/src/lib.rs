//! The aggregator: consumes usage events, dead-letters the invalid ones, drops duplicates, rates
//! the rest from the price book and writes usage, ledger postings and the consumed Kafka offsets
//! to Postgres in one transaction per batch, so a crash at any point neither loses nor double-bills
//! an event.
//!
//! Several instances share the partitions through leases (`lease`), and a batch commits only
//! while its instance still owns its partitions.
//!
//! `validate`, `allocation` and `batch` are pure; `store` and `lease` talk to Postgres, `dead_letter` is the
//! only module that produces, `run` the loop that ties them together; `metrics` counts what
//! it committed.

pub mod allocation;
pub mod batch;
pub mod dead_letter;
pub mod error;
pub mod interval;
pub mod lease;
pub mod metrics;
pub mod progress;
pub mod run;
pub mod store;
pub mod validate;

pub use error::AggregatorError;
pub use progress::uncommitted;
pub use run::{AggregatorStats, StatsSnapshot, run};
