//! Pure billing domain for gpubill: money and rounding, billing periods, the versioned price book,
//! rating of GPU usage, tenant contracts, invoice arithmetic and usage-stream watermarks. Nothing here does I/O; services load, store and
//! serve what these types compute.

pub mod contract;
pub mod invoice;
pub mod money;
pub mod period;
pub mod pricebook;
pub mod rating;
pub mod stream;

pub use contract::{
    ChargeKind, ChargeLine, Contract, ContractError, ContractTerms, CreditApplication, CreditError,
    MonthCharges, MonthError, PriceClass, RatedUsage, Reservation, TierBand, TierError, TierKind,
    TierSchedule, UnknownPriceClass, UsageTotals, apply_prepaid_credit, charges_for_month,
    delta_to_book, priced_amount,
};
pub use invoice::{DraftInvoice, InvoiceLine, LineInput};
pub use money::{SECONDS_PER_HOUR, round_to_cents};
pub use period::{BillingPeriod, PeriodError};
pub use pricebook::{PriceBook, PriceBookError, PriceVersion, SkuPrices};
pub use rating::{RatedSegment, RatingError, check_priced, gpu_seconds, rate_interval};
pub use stream::{Gap, StreamState};
