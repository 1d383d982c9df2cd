//! The finance exports' JSON: the trial balance (`GET /v1/exports/trial-balance`). The other
//! exports are files (FEC, CSV, FOCUS) whose columns are documented in docs/billing.md.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One account of the trial balance: a PCG account, per tenant (auxiliary) where the books
/// keep it so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrialBalanceRow {
    /// The ledger's account (`411.mistral-lab`, `706.H100-SXM5-80GB`, `44571`).
    pub account: String,
    /// The PCG account (`411`).
    pub pcg_code: String,
    pub title: String,
    /// The tenant, on per-tenant accounts (411, 4181, 4191).
    pub auxiliary_account: Option<String>,
    pub auxiliary_name: Option<String>,
    pub debit: Decimal,
    pub credit: Decimal,
    /// Debit minus credit: positive for a debit balance.
    pub balance: Decimal,
}

/// Every account's debits, credits and balance from the first entry up to `at`. The balances
/// sum to zero: the journal balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrialBalance {
    /// Entries booked at or before this instant are counted.
    pub at: DateTime<Utc>,
    pub currency: String,
    pub accounts: Vec<TrialBalanceRow>,
    pub total_debit: Decimal,
    pub total_credit: Decimal,
    /// Always `0.00`.
    pub total_balance: Decimal,
}
