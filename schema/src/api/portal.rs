//! The customer portal's wire types: a tenant's month at a glance (`GET
//! /v1/tenants/{tenant}/overview`, what the portal's overview shows and anyone can fetch with a
//! key) and a minted portal link (`POST /v1/tenants/{tenant}/portal-sessions`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How close a figure is to its cap: the portal's gauges mark 75, 90 and 100 %.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GaugeLevel {
    /// Below 75 %.
    Ok,
    /// From 75 %.
    Notice,
    /// From 90 %.
    Warning,
    /// At or above the cap.
    Reached,
}

impl GaugeLevel {
    pub fn code(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Reached => "reached",
        }
    }
}

/// A figure against its cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Gauge {
    #[schema(value_type = String, example = "750000.00")]
    pub cap: Decimal,
    #[schema(value_type = String, example = "1234.56")]
    pub used: Decimal,
    /// `used / cap × 100`, two places, rounded half-even (`100.00` when the cap is zero).
    #[schema(value_type = String, example = "0.16")]
    pub percent: Decimal,
    pub level: GaugeLevel,
}

/// Concurrent GPUs (or MIG instances) of one SKU against its cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConcurrencyGauge {
    pub sku: String,
    #[serde(flatten)]
    pub gauge: Gauge,
}

/// Amounts of the month so far: the live draft invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonthToDate {
    /// GPU-seconds of the month's own usage lines (adjustments of earlier months aside).
    #[schema(value_type = String, example = "41112.5")]
    pub gpu_seconds: Decimal,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "1234.56")]
    pub net: Decimal,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "246.91")]
    pub vat: Decimal,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "1481.47")]
    pub total: Decimal,
    /// Prepaid credit the draft would draw.
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "0.00")]
    pub credit_applied: Decimal,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "1481.47")]
    pub amount_due: Decimal,
}

/// The month's projected end: the draft plus what running allocations cost until the month ends
/// (or they reach their maximum duration, whichever is first) at the price they run at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Projection {
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "2500.00")]
    pub net: Decimal,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "500.00")]
    pub vat: Decimal,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "3000.00")]
    pub total: Decimal,
    /// What running allocations cost per hour now, net.
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "25.20")]
    pub run_rate_per_hour: Decimal,
}

/// Quota figures, from the scheduler's memory; `None` on an instance that does not run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaStanding {
    /// Net usage booked this month against `budget_per_month`; `None` without a budget.
    pub budget: Option<Gauge>,
    /// Metered GPU-hours this month against `gpu_hours_per_month`; `None` without a cap.
    pub gpu_hours: Option<Gauge>,
    /// Live GPUs per SKU of the tenant's caps.
    pub concurrent: Vec<ConcurrencyGauge>,
    /// Held by running allocations for what they may still use (not spent yet).
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "120.00")]
    pub open_holds: Decimal,
    /// When the scheduler last read the ledger's figures.
    pub ledger_as_of: Option<DateTime<Utc>>,
}

/// `GET /v1/tenants/{tenant}/overview`: the tenant's current month at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Overview {
    pub tenant_id: String,
    pub tenant_name: String,
    pub currency: String,
    /// The IANA zone whose calendar months are the tenant's periods.
    pub time_zone: String,
    /// `YYYY-MM`.
    pub period: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub month_to_date: MonthToDate,
    /// `None` on an instance that does not run the scheduler (it does not know what runs).
    pub projected: Option<Projection>,
    #[serde(with = "crate::decimal::cents")]
    #[schema(value_type = String, example = "100.00")]
    pub credit_balance: Decimal,
    pub quota: Option<QuotaStanding>,
    /// Allocations made through the scheduler running now; `None` where `quota` is.
    pub running_allocations: Option<u32>,
}

/// `POST /v1/tenants/{tenant}/portal-sessions`: a one-time sign-in link to the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PortalLink {
    /// Open it once, before `expires_at`: it signs the browser in for `session_expires_in_seconds`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
    pub session_expires_in_seconds: i64,
}

impl From<gpubill_domain::standing::Level> for GaugeLevel {
    fn from(level: gpubill_domain::standing::Level) -> Self {
        use gpubill_domain::standing::Level;
        match level {
            Level::Ok => Self::Ok,
            Level::Notice => Self::Notice,
            Level::Warning => Self::Warning,
            Level::Reached => Self::Reached,
        }
    }
}

impl From<gpubill_domain::standing::Meter> for Gauge {
    fn from(meter: gpubill_domain::standing::Meter) -> Self {
        Self {
            cap: meter.cap,
            used: meter.used,
            percent: meter.percent,
            level: meter.level.into(),
        }
    }
}
