//! The accounting journal in Postgres. Transactions are built and checked by
//! `gpubill_domain::journal` (balanced, whole cents, known accounts); this crate stores them under
//! an id the caller chooses, so a retried post is harmless, reads balances back, and issues gapless
//! document numbers inside the caller's transaction. The database enforces the same rules again
//! (migration `double_entry_journal`): balance at commit, append-only, cents. The price book is
//! stored beside it (`price_book`), so the prices that rated the ledger stay on record.

pub mod journal;
pub mod numbering;
pub mod price_book;

pub use journal::{Posted, account_balance, post};
pub use numbering::next_document_number;
pub use price_book::{LoadedPriceBook, load_price_book};

/// Why the journal or the price book refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("journal transaction {0} was already booked with other entries")]
    Conflict(uuid::Uuid),
    #[error(transparent)]
    Numbering(#[from] gpubill_domain::NumberingError),
    #[error(
        "the price book sets the {class} price of SKU `{sku}` from {effective_from} to {configured}, \
         but the ledger loaded {stored} for that version: a loaded version never changes. Restore \
         {stored} in the price book and add a new version with a later effective_from for the new \
         price"
    )]
    PriceVersionChanged {
        sku: String,
        class: gpubill_domain::PriceClass,
        effective_from: chrono::DateTime<chrono::Utc>,
        stored: rust_decimal::Decimal,
        configured: rust_decimal::Decimal,
    },
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}
