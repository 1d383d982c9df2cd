//! Pure billing domain for gpubill: money and rounding, billing periods in each tenant's time
//! zone, the versioned price book, rating of GPU usage, tenant contracts and delta rating, invoice
//! arithmetic, invoice composition with adjustments of earlier periods, VAT treatment, document
//! numbering, credit notes, double-entry journal transactions, usage-stream watermarks and what an
//! allocation grants its usage. Nothing here does I/O; services load, store and serve what these
//! types compute.

pub mod access;
pub mod billing;
pub mod contract;
pub mod credit_note;
pub mod grant;
pub mod invoice;
pub mod journal;
pub mod legal_id;
pub mod money;
pub mod numbering;
pub mod period;
pub mod portal;
pub mod pricebook;
pub mod rating;
pub mod scheduler;
pub mod standing;
pub mod stream;
pub mod usage_series;
pub mod vat;

pub use billing::{
    BilledLine, BookedUsage, ComposeError, ComposedInvoice, ComposedLine, ServicePeriod,
    compose_invoice,
};
pub use contract::{
    ChargeKind, ChargeLine, Contract, ContractError, ContractTerms, CreditApplication, CreditError,
    MonthCharges, MonthError, PriceLine, RatedUsage, Reservation, SecondsAtPrice, TierBand,
    TierError, TierKind, TierSchedule, UsageTotals, apply_prepaid_credit, charges_for_month,
    delta_to_book, lines_amount, price_lines, priced_amount, totals_of,
};
pub use credit_note::{
    CreditNote, CreditNoteError, DocumentLine, FinalizedInvoice, credit_note_for,
};
pub use grant::{Grant, MeteredUse, NotGranted, Unallocated, check_grant};
pub use invoice::QUANTITY_PLACES;
pub use journal::{
    AccountId, COMMITMENT_REVENUE_DETAIL, CreditSource, Entry, JournalError, JournalTransaction,
    PcgAccount, TransactionKind,
};
pub use money::{SECONDS_PER_HOUR, round_to_cents, unit_price_shown, usage_amount};
pub use numbering::{DocumentKind, DocumentNumber, MAX_SEQUENCE, NumberingError};
pub use period::{
    BillingPeriod, DEFAULT_TIME_ZONE, PeriodError, Tz, UnknownTimeZone, day_start_in,
    parse_time_zone,
};
pub use pricebook::{
    PriceBook, PriceBookError, PriceClass, PriceVersion, PriceVersionError, SkuPrices,
    UnknownPriceClass,
};
pub use rating::{RatedSegment, RatingError, check_priced, gpu_seconds, rate_interval};
pub use stream::{Gap, StreamState};
pub use vat::{
    EU_MEMBER_STATES, FRENCH_STANDARD_RATE, OUT_OF_SCOPE_MENTION, REVERSE_CHARGE_MENTION,
    SELLER_COUNTRY, TaxableAmount, VatBreakdown, VatBreakdownError, VatCategory, VatError,
    VatSubtotal, VatTreatment, is_eu_member_state, vat_number_prefix, vat_per_rate, vat_treatment,
};
