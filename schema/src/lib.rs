//! Shared data shapes of gpubill: the HTTP API's wire types (`api`), the usage-event wire format
//! (`event`, version 1), decimals in
//! JSON bodies (`decimal`), the diesel
//! table definitions (`schema`), the row models (`models`), the
//! events' timestamp decoding (`timestamp`) and the embedded migrations.

pub mod api;
pub mod decimal;
pub mod event;
pub mod models;
pub mod schema;
pub mod timestamp;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// The SQL migrations of `migrations/`, compiled into every binary that applies them.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");
