//! What every gpubill service stands on: validated configuration (`config`), the Postgres pool
//! and migrations (`db`), Kafka client settings and topic set-up (`kafka`), cooperative shutdown
//! (`shutdown`), crash-test failpoints (`failpoint`) and the process's Prometheus recorder
//! (`metrics`).

pub mod config;
pub mod db;
pub mod failpoint;
pub mod kafka;
pub mod metrics;
pub mod shutdown;

pub use config::{Config, ConfigError, Settings};
pub use db::{DbError, PgPool};
pub use shutdown::{Shutdown, ShutdownTrigger};
