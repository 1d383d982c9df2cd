//! Finance exports as files, from rows the ledger streams in: the FEC (`fec`), the CSV journal
//! (`journal_csv`), the trial balance (`trial_balance`) and the FOCUS 1.2 cost and usage dataset
//! (`focus`). Every writer takes one row at a time and writes it to any `io::Write`, so an export
//! of millions of lines never holds them in memory. Which journal a transaction belongs to, and
//! what a line's document is, are decided here (`journals`, `line`).

pub mod csv;
pub mod fec;
pub mod focus;
pub mod journal_csv;
pub mod journals;
pub mod line;
pub mod parquet_rows;
pub mod text;
pub mod trial_balance;
pub mod window;

pub use journals::Journal;
pub use line::{AccountLine, JournalLine, Piece, TenantRef};

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The ledger handed over something its own rules forbid (an unbalanced transaction, lines
    /// out of order): the export stops rather than write a file that misstates the books.
    #[error("the journal read is inconsistent: {0}")]
    Inconsistent(String),
    /// Writing failed: the disk, the client gone, or a signal.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
