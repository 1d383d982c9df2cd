//! Access control in Postgres and in memory: API keys, of which only a hash is stored
//! (`keys`, the owner of `api_keys`); the authenticator that answers every request from a copy of
//! the keys in memory, re-read on a short cadence (`authenticator`); and the append-only audit
//! trail of state changes (`audit`, the owner of `audit_log`); the answers kept for
//! `Idempotency-Key` retries (`idempotency`); the customer portal's one-time sign-in links
//! (`portal_links`, the owner of `portal_links`). Who may do what is decided in
//! `gpubill_domain::access`.

pub mod audit;
pub mod authenticator;
pub mod idempotency;
pub mod keys;
pub mod portal_links;

pub use authenticator::{AuthError, Authenticator, SessionError};
pub use keys::{AccessError, IssuedKey, StoredKey};
