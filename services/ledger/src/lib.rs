//! Billing in Postgres. Transactions are built and checked by `gpubill_domain` (balanced, whole
//! cents, known accounts); this crate stores them under ids the caller chooses, so a retried
//! write is harmless, and keeps what billing needs around them: tenant contracts, delta-rated
//! usage bookings, prepaid credit, finalized invoices and credit notes with gapless numbers, and
//! the price book that rated the ledger (`price_book`). The
//! database enforces the journal's rules again (migrations `double_entry_journal`, `invoices`):
//! balance at commit, append-only, cents, credit never overdrawn, one live invoice per month.

pub mod bookings;
pub mod books;
pub mod contracts;
pub mod credits;
pub mod documents;
pub mod invoicing;
pub mod journal;
pub mod numbering;
pub mod price_book;
pub mod profiles;
pub mod usage_buckets;

pub use journal::{Posted, account_balance, post, post_new};
pub use numbering::next_document_number;
pub use price_book::{LoadedPriceBook, load_price_book};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_schema::schema::tenants;
use uuid::Uuid;

/// Namespace of the v5 ids this crate derives for journal transactions and documents, so that
/// the same business event always gets the same id.
pub const JOURNAL_NAMESPACE: Uuid = Uuid::from_u128(0x5d1f_4c1e_8a7b_4f0e_9c2d_6b3a_1e7f_0a42);

/// Why the ledger refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("journal transaction {0} was already booked with other entries")]
    Conflict(Uuid),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("tenant `{0}` does not exist")]
    UnknownTenant(String),
    #[error(transparent)]
    Numbering(#[from] gpubill_domain::NumberingError),
    #[error(transparent)]
    Journal(#[from] gpubill_domain::JournalError),
    #[error("contract document: {0}")]
    ContractJson(#[source] serde_json::Error),
    #[error("stored contract of tenant `{tenant_id}` is no longer valid: {error}")]
    StoredContractInvalid {
        tenant_id: String,
        error: contracts::ContractDocumentError,
    },
    #[error("{0}")]
    Refused(String),
    #[error(
        "{period} has not ended yet in the tenant's time zone ({time_zone}); it can be finalized \
         from {ends_at}"
    )]
    PeriodOpen {
        period: gpubill_domain::BillingPeriod,
        time_zone: gpubill_domain::Tz,
        ends_at: chrono::DateTime<chrono::Utc>,
    },
    #[error(
        "tenant `{0}` has no billing profile: an invoice names its buyer (PUT /v1/tenants/{0}/billing-profile)"
    )]
    BillingProfileMissing(String),
    #[error(transparent)]
    InvalidIdentity(#[from] gpubill_einvoice::identity::IdentityError),
    #[error(
        "{0} was issued before invoices froze their seller and buyer (December 2026): it has no e-invoice"
    )]
    NoEInvoice(String),
    #[error("ledger data is inconsistent: {0}")]
    Corrupt(String),
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
    #[error(transparent)]
    Export(#[from] gpubill_exports::ExportError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

/// Every tenant's id and name.
pub fn tenant_names(conn: &mut PgConnection) -> Result<Vec<(String, String)>, LedgerError> {
    Ok(tenants::table
        .select((tenants::tenant_id, tenants::name))
        .order(tenants::tenant_id)
        .load(conn)?)
}

/// Locks the tenant's row until the caller's transaction ends: writers of one tenant's contract,
/// credit and invoices queue here, so each sees the others' committed work. `NO KEY UPDATE`
/// leaves the foreign-key checks of the aggregator's usage rows free to pass meanwhile.
pub(crate) fn lock_tenant(conn: &mut PgConnection, tenant_id: &str) -> Result<(), LedgerError> {
    tenants::table
        .filter(tenants::tenant_id.eq(tenant_id))
        .select(tenants::tenant_id)
        .for_no_key_update()
        .first::<String>(conn)
        .optional()?
        .map(|_| ())
        .ok_or_else(|| LedgerError::UnknownTenant(tenant_id.to_owned()))
}
