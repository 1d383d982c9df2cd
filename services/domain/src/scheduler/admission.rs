//! Admission under a tenant's quota: concurrent GPUs per SKU, GPU-hours per month and a money
//! budget per month. A request is admitted only if all three hold counting it; admission puts a
//! hold of `units × maximum hours × unit price` (rounded up to the cent) on the budget. A refusal
//! names the limit with its figures: cap, used, requested, remaining.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A tenant's limits; a missing limit does not constrain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Maximum live GPUs (or MIG instances) per SKU.
    pub concurrent: BTreeMap<String, u32>,
    pub gpu_hours_per_month: Option<Decimal>,
    /// EUR per calendar month.
    pub budget_per_month: Option<Decimal>,
}

/// What the tenant already uses, at the instant of the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLoad {
    /// Live units per SKU.
    pub concurrent: BTreeMap<String, u32>,
    /// Metered GPU-hours this month.
    pub gpu_hours_used: Decimal,
    /// Hours left to run on the tenant's live allocations (units × time to their maximum end).
    pub gpu_hours_running: Decimal,
    /// Spend this month from the ledger.
    pub spend: Decimal,
    /// Open holds, less what their allocations have metered so far.
    pub open_holds: Decimal,
}

/// The request as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionAsk {
    pub sku: String,
    pub units: u32,
    pub max_duration_seconds: i64,
    /// EUR per unit-hour for the request's class.
    pub unit_price: Decimal,
}

/// An admitted request: its GPU-hours and the hold to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub gpu_hours: Decimal,
    pub hold: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    ConcurrentGpus,
    GpuHours,
    Budget,
}

impl RefusalReason {
    /// Machine-readable code: `concurrent_gpus`, `gpu_hours`, `budget`.
    pub fn code(self) -> &'static str {
        todo!()
    }
}

/// The first limit a request would exceed, with its figures in the limit's unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: cap {cap}, used {used}, requested {requested}, remaining {remaining}", reason.code())]
pub struct Refusal {
    pub reason: RefusalReason,
    pub cap: Decimal,
    pub used: Decimal,
    pub requested: Decimal,
    pub remaining: Decimal,
}

/// Admits the ask or names the first limit it exceeds (checked in the order concurrent GPUs,
/// GPU-hours, budget).
pub fn admit(
    limits: &QuotaLimits,
    load: &TenantLoad,
    ask: &AdmissionAsk,
) -> Result<Admission, Refusal> {
    let _ = (limits, load, ask);
    todo!()
}
