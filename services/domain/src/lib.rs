//! Pure billing domain for gpubill: money and rounding, billing periods, the versioned price book,
//! rating of GPU usage, invoice arithmetic and usage-stream watermarks. Nothing here does I/O; services load, store and
//! serve what these types compute.

pub mod invoice;
pub mod journal;
pub mod money;
pub mod period;
pub mod pricebook;
pub mod rating;
pub mod stream;

pub use invoice::{DraftInvoice, InvoiceLine, LineInput};
pub use journal::{
    AccountId, Entry, JournalError, JournalTransaction, PcgAccount, TransactionKind,
};
pub use money::{SECONDS_PER_HOUR, round_to_cents};
pub use period::{BillingPeriod, PeriodError};
pub use pricebook::{PriceBook, PriceBookError, PriceVersion, SkuPrices};
pub use rating::{RatedSegment, RatingError, check_priced, gpu_seconds, rate_interval};
pub use stream::{Gap, StreamState};
