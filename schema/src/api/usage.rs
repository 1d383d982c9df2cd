//! The usage series of `GET /v1/tenants/{tenant}/usage?granularity=&group_by=`: GPU-seconds and
//! amount per bucket of time (an hour, a day or a month of the tenant's time zone), split by
//! SKU, price class or allocation, as the portal charts them and anyone can fetch them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The length of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Hour,
    Day,
    Month,
}

impl Granularity {
    pub const ALL: [Self; 3] = [Self::Hour, Self::Day, Self::Month];

    pub fn code(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|granularity| granularity.code() == code)
    }
}

/// What the buckets are split by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UsageDimension {
    Sku,
    PriceClass,
    Allocation,
}

impl UsageDimension {
    pub const ALL: [Self; 3] = [Self::Sku, Self::PriceClass, Self::Allocation];

    pub fn code(self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::PriceClass => "price_class",
            Self::Allocation => "allocation",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|dimension| dimension.code() == code)
    }
}

/// One bucket of the series: the usage of one group in one span of time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageBucketView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Set when the series is split by SKU.
    pub sku: Option<String>,
    /// Set when the series is split by price class.
    pub price_class: Option<String>,
    /// Set when the series is split by allocation.
    pub allocation_id: Option<String>,
    /// GPU-seconds, to 6 places.
    pub gpu_seconds: Decimal,
    /// At list price, rounded half-even to the cent once per bucket.
    pub amount: Decimal,
}

/// The series, oldest bucket first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageSeries {
    pub tenant_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The tenant's IANA time zone: buckets are its hours, days or months.
    pub time_zone: String,
    pub granularity: Granularity,
    pub group_by: Vec<UsageDimension>,
    /// The allocation the series is limited to, if it was asked for one.
    pub allocation_id: Option<String>,
    pub currency: String,
    pub buckets: Vec<UsageBucketView>,
    pub total_gpu_seconds: Decimal,
    /// The buckets' amounts added up.
    pub total_amount: Decimal,
}
