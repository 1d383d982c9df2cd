//! A valid usage event as the ledger needs it, shared by the batch that builds it and the
//! allocation check that judges it.

use chrono::{DateTime, Utc};
use gpubill_domain::{PriceClass, Tz};
use gpubill_schema::event::CONTENT_DIGEST_LEN;
use rust_decimal::Decimal;
use uuid::Uuid;

/// An event's content digest (see `gpubill_schema::event::content_digest`).
pub type Digest = [u8; CONTENT_DIGEST_LEN];

/// A valid usage event, as the ledger needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteredInterval {
    pub event_id: Uuid,
    pub tenant_id: String,
    pub allocation_id: String,
    pub node_id: String,
    pub gpu_uuid: String,
    pub sku: String,
    /// How the GPU was sold: rated at this class's price.
    pub price_class: PriceClass,
    /// The tenant's time zone: the interval is billed in the tenant's months.
    pub time_zone: Tz,
    pub seq: i64,
    pub interval_start: DateTime<Utc>,
    pub interval_end: DateTime<Utc>,
    /// Exact, to the nanosecond.
    pub gpu_seconds: Decimal,
    pub source_partition: i32,
    pub source_offset: i64,
    pub digest: Digest,
}
