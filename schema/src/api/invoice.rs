//! The API's invoice and credit-note types: what `GET /v1/invoices/{number}`, the draft, the
//! tenant's list and `GET /v1/credit-notes/{number}` answer, as the ledger composes them. Money is
//! serialized as decimal strings.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Composed on request from the ledger; nothing is stored.
    Draft,
    Finalized,
    /// A credit note voids it.
    Voided,
}

/// A line of an invoice, draft or finalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineView {
    pub line: i16,
    /// `usage`, `reservation` or `commitment_true_up`.
    pub charge: String,
    /// The month the charge belongs to (`YYYY-MM`).
    pub service_period: String,
    /// True when the service period is earlier than the invoice's: usage booked after that
    /// month was invoiced.
    pub adjustment: bool,
    pub sku: Option<String>,
    pub price_class: Option<String>,
    pub description: String,
    pub gpu_seconds: Decimal,
    pub quantity_gpu_hours: Decimal,
    pub unit_price: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub amount: Decimal,
    pub vat_category: String,
    pub vat_rate: Decimal,
}

/// The credit note voiding an invoice, as summarized on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditNoteView {
    pub number: String,
    pub invoice_number: String,
    pub tenant_id: String,
    pub reason: String,
    pub issued_at: DateTime<Utc>,
    pub lines: Vec<CreditNoteLineView>,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub net_total: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub vat_total: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub total: Decimal,
    /// Prepaid credit the invoice had drawn, given back to the tenant.
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub credit_returned: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditNoteLineView {
    pub line: i16,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub amount: Decimal,
    pub vat_category: String,
    pub vat_rate: Decimal,
}

/// An invoice: a draft (not stored), finalized, or voided by a credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceView {
    /// `None` on a draft.
    pub number: Option<String>,
    pub tenant_id: String,
    /// The month invoiced (`YYYY-MM`), a calendar month of `time_zone`.
    pub period: String,
    /// IANA name of the tenant's time zone, whose months are its billing periods.
    pub time_zone: String,
    pub status: InvoiceStatus,
    pub issued_at: Option<DateTime<Utc>>,
    pub currency: String,
    pub country: String,
    pub vat_number: Option<String>,
    pub vat_category: String,
    pub vat_rate: Decimal,
    pub vat_mention: Option<String>,
    pub lines: Vec<LineView>,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub net_total: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub vat_total: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub total: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub credit_applied: Decimal,
    #[serde(serialize_with = "crate::decimal::cents::serialize")]
    pub amount_due: Decimal,
    pub credit_note: Option<String>,
}
