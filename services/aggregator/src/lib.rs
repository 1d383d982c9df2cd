//! The aggregator: consumes usage events, dead-letters the invalid ones, drops duplicates, rates
//! the rest from the price book and writes usage, ledger postings and the consumed Kafka offsets
//! to Postgres in one transaction per batch, so a crash at any point neither loses nor double-bills
//! an event.
//!
//! `validate` and `batch` are pure; `store` is the only module that talks to Postgres,
//! `dead_letter` the only one that produces, `run` the loop that ties them together.

pub mod batch;
pub mod dead_letter;
pub mod error;
pub mod progress;
pub mod run;
pub mod store;
pub mod validate;

pub use error::AggregatorError;
pub use progress::uncommitted;
pub use run::{AggregatorStats, StatsSnapshot, run};
