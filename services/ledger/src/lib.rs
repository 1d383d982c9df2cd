//! The accounting journal in Postgres. Transactions are built and checked by
//! `gpubill_domain::journal` (balanced, whole cents, known accounts); this crate stores them under
//! an id the caller chooses, so a retried post is harmless, reads balances back, and issues gapless
//! document numbers inside the caller's transaction. The database enforces the same rules again
//! (migration `double_entry_journal`): balance at commit, append-only, cents.

pub mod journal;
pub mod numbering;

pub use journal::{Posted, account_balance, post};
pub use numbering::next_document_number;

/// Why the journal refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("journal transaction {0} was already booked with other entries")]
    Conflict(uuid::Uuid),
    #[error(transparent)]
    Numbering(#[from] gpubill_domain::NumberingError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}
