//! The legal identities an invoice names: the seller (the cloud operator, from `seller.toml`) and
//! the buyer (a tenant's billing profile, `GET`/`PUT /v1/tenants/{tenant}/billing-profile`). A
//! finalized invoice and a credit note keep a frozen copy of both, as they were when issued.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub postcode: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// Where a party receives electronic invoices: an identifier in a scheme of the EAS code list
/// (`0225`: a French electronic invoicing address, which starts with the SIREN; `EM`: e-mail;
/// `0204`, `0088`, … for other networks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ElectronicAddress {
    pub scheme: String,
    pub id: String,
}

/// Whom to contact about an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The account invoices are paid to (SEPA credit transfer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccount {
    pub holder: String,
    pub iban: String,
    pub bic: String,
}

/// The seller, as `seller.toml` describes it and every invoice freezes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Seller {
    pub legal_name: String,
    /// `SAS`, `SA`, `SARL`, …
    pub legal_form: String,
    /// Share capital in the invoice currency.
    pub share_capital: Decimal,
    pub siren: String,
    pub siret: String,
    pub vat_number: String,
    /// Trade register, e.g. `RCS Paris`.
    pub registration: String,
    pub address: PostalAddress,
    pub electronic_address: ElectronicAddress,
    pub contact: Contact,
    pub bank: BankAccount,
    /// Days from the issue date to the due date.
    pub payment_terms_days: u32,
    /// Annual rate of late-payment penalties, in percent.
    pub late_penalty_rate_percent: Decimal,
    /// Flat indemnity for recovery costs owed on late payment (40 EUR in France).
    pub recovery_indemnity: Decimal,
    /// What is granted for early payment, e.g. "Pas d'escompte pour paiement anticipé".
    pub discount_terms: String,
    /// The seller opted to pay VAT on debits (at invoicing) rather than on payment.
    pub vat_on_debits: bool,
}

/// A tenant's billing identity: who is invoiced, as the billing profile holds it and every
/// invoice freezes it. Country and VAT number are the tenant's (`cluster.toml`): they decide the
/// VAT, and change only there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Buyer {
    pub tenant_id: String,
    pub legal_name: String,
    pub address: PostalAddress,
    /// Intra-community VAT number, if any.
    pub vat_number: Option<String>,
    /// Mandatory for a buyer established in France.
    pub siren: Option<String>,
    pub electronic_address: ElectronicAddress,
    pub billing_email: String,
    /// The buyer's purchase order, quoted on its invoices.
    pub purchase_order: Option<String>,
}

/// `PUT /v1/tenants/{tenant}/billing-profile`: everything of [`Buyer`] but the tenant, its
/// country's VAT number (`cluster.toml`'s), which the address's country must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingProfileUpdate {
    pub legal_name: String,
    pub address: PostalAddress,
    #[serde(default)]
    pub siren: Option<String>,
    pub electronic_address: ElectronicAddress,
    pub billing_email: String,
    #[serde(default)]
    pub purchase_order: Option<String>,
}
