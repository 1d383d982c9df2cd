//! Shared data shapes of gpubill: the usage-event wire format (`event`, version 1), the diesel
//! table definitions (`schema`), the row models (`models`) and the embedded migrations.

pub mod event;
pub mod models;
pub mod schema;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// The SQL migrations of `migrations/`, compiled into every binary that applies them.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");
