//! Row models for the ledger tables: `New*` structs are what services insert, the others what
//! they read back.

use crate::schema::{ledger_entries, rated_usage, tenants, usage_gaps, usage_runs, usage_streams};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct NewTenant {
    pub tenant_id: String,
    pub name: String,
    pub country: String,
    pub vat_number: Option<String>,
    /// IANA name of the zone whose calendar months are the tenant's billing periods.
    pub time_zone: String,
}

// No optional columns: rows can be sent with COPY, which has no DEFAULT placeholders.
/// A run: consecutive events of one stream applied in one batch, without a hole in seq or time.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = usage_runs, treat_none_as_default_value = false)]
pub struct NewUsageRun {
    pub allocation_id: String,
    pub gpu_uuid: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub tenant_id: String,
    pub node_id: String,
    pub sku: String,
    /// The code of the run's price class (`gpubill_domain::PriceClass::code`).
    pub price_class: String,
    pub run_start: DateTime<Utc>,
    pub run_end: DateTime<Utc>,
    pub gpu_seconds: Decimal,
    /// [`crate::event::CONTENT_DIGEST_LEN`] bytes per event, in seq order.
    pub event_digests: Vec<u8>,
    pub source_partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = rated_usage, treat_none_as_default_value = false)]
pub struct NewRatedUsage {
    pub allocation_id: String,
    pub gpu_uuid: String,
    /// The run's first seq.
    pub first_seq: i64,
    pub segment: i16,
    pub tenant_id: String,
    pub sku: String,
    /// The run's price class code; `price_per_gpu_hour` is that class's price.
    pub price_class: String,
    pub period: NaiveDate,
    pub segment_start: DateTime<Utc>,
    pub segment_end: DateTime<Utc>,
    pub gpu_seconds: Decimal,
    pub price_per_gpu_hour: Decimal,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = ledger_entries)]
pub struct NewLedgerEntry {
    pub batch_id: Uuid,
    pub tenant_id: String,
    pub sku: String,
    /// Price class code of the usage summed; `price_per_gpu_hour` is that class's price.
    pub price_class: String,
    pub period: NaiveDate,
    pub price_per_gpu_hour: Decimal,
    pub gpu_seconds: Decimal,
    pub amount: Decimal,
    pub segment_count: i32,
}

/// A stream's dedup state as written after a batch (see `gpubill_domain::StreamState`).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = usage_streams)]
pub struct NewUsageStream {
    pub allocation_id: String,
    pub gpu_uuid: String,
    pub tenant_id: String,
    pub watermark_seq: i64,
    pub max_seq: i64,
    pub first_start: DateTime<Utc>,
    pub last_end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = usage_gaps)]
pub struct UsageGap {
    pub allocation_id: String,
    pub gpu_uuid: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub missing_from: Option<DateTime<Utc>>,
    pub missing_until: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
}
