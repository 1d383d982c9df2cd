//! Validation of decoded usage events against what the aggregator knows: tenants (with the time
//! zone their months are rated in), SKUs, the longest interval allowed and the clock. Pure: the
//! caller passes the clock in.

use chrono::{DateTime, Duration, Utc};
use gpubill_domain::{PriceBook, Tz};
use gpubill_schema::event::{DecodeError, UsageEventV1};
use std::collections::HashMap;

/// Why a record was sent to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Machine-readable, stable: `invalid_json`, `unknown_type`, `missing_field`,
    /// `invalid_field`, `invalid_interval`, `interval_too_long`, `future_interval`,
    /// `unknown_sku`, `unknown_tenant`, `sku_unpriced`; `conflict` and `overlapping_interval`,
    /// decided against the ledger by `batch::resolve_against_ledger`; and the reasons of
    /// `gpubill_domain::Unallocated`, decided against the allocation by `allocation`.
    pub reason: &'static str,
    pub detail: String,
}

impl Rejection {
    fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl From<DecodeError> for Rejection {
    fn from(error: DecodeError) -> Self {
        Self::new(error.reason(), error.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Validator {
    max_interval: Duration,
    max_future: Duration,
    /// Every known tenant's time zone.
    tenants: HashMap<String, Tz>,
}

impl Validator {
    pub fn new(
        max_interval_seconds: i64,
        max_future_seconds: i64,
        tenants: impl IntoIterator<Item = (String, Tz)>,
    ) -> Self {
        Self {
            max_interval: Duration::seconds(max_interval_seconds),
            max_future: Duration::seconds(max_future_seconds),
            tenants: tenants.into_iter().collect(),
        }
    }

    /// Replaces the known tenants and their time zones.
    pub fn set_tenants(&mut self, tenants: impl IntoIterator<Item = (String, Tz)>) {
        self.tenants = tenants.into_iter().collect();
    }

    /// Checks an event that decoded; `now` is the aggregator's clock. A valid event's tenant is
    /// known: the answer is its time zone, whose months the event is rated in.
    pub fn check(
        &self,
        event: &UsageEventV1,
        price_book: &PriceBook,
        now: DateTime<Utc>,
    ) -> Result<Tz, Rejection> {
        let data = &event.data;
        if data.interval_end <= data.interval_start {
            return Err(Rejection::new(
                "invalid_interval",
                format!(
                    "interval_end {} is not after interval_start {}",
                    data.interval_end, data.interval_start
                ),
            ));
        }
        if data.interval_end - data.interval_start > self.max_interval {
            return Err(Rejection::new(
                "interval_too_long",
                format!(
                    "interval of {} s exceeds the maximum of {} s",
                    (data.interval_end - data.interval_start).num_seconds(),
                    self.max_interval.num_seconds()
                ),
            ));
        }
        if data.interval_end > now + self.max_future {
            return Err(Rejection::new(
                "future_interval",
                format!(
                    "interval_end {} is more than {} s ahead of {now}",
                    data.interval_end,
                    self.max_future.num_seconds()
                ),
            ));
        }
        let Some(sku) = price_book.sku(&data.sku) else {
            return Err(Rejection::new(
                "unknown_sku",
                format!("SKU `{}` is not in the price book", data.sku),
            ));
        };
        if sku.version_at(data.interval_start).is_none() {
            return Err(Rejection::new(
                "sku_unpriced",
                format!("SKU `{}` has no price at {}", data.sku, data.interval_start),
            ));
        }
        self.tenants.get(&data.tenant_id).copied().ok_or_else(|| {
            Rejection::new(
                "unknown_tenant",
                format!("tenant `{}` is not known", data.tenant_id),
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gpubill_domain::{PriceClass, PriceVersion, SkuPrices};
    use gpubill_schema::event::UsageDataV1;
    use rust_decimal::dec;

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// The H100 at 2.49 on demand, 1.25 spot and 1.89 reserved.
    pub(crate) fn price_book() -> PriceBook {
        let version = PriceVersion::new(
            at("2026-01-01T00:00:00Z"),
            [
                (PriceClass::OnDemand, dec!(2.49)),
                (PriceClass::Spot, dec!(1.25)),
                (PriceClass::Reserved, dec!(1.89)),
            ],
        )
        .unwrap();
        PriceBook::new(
            "EUR",
            vec![SkuPrices {
                sku: "H100-SXM5-80GB".into(),
                description: "H100".into(),
                versions: vec![version],
            }],
        )
        .unwrap()
    }

    pub(crate) fn event(seq: u64, start: &str, end: &str) -> UsageEventV1 {
        UsageEventV1::new(
            UsageDataV1 {
                tenant_id: "t1".into(),
                allocation_id: "a1".into(),
                node_id: "n1".into(),
                gpu_uuid: "GPU-1".into(),
                sku: "H100-SXM5-80GB".into(),
                price_class: PriceClass::OnDemand,
                seq,
                interval_start: at(start),
                interval_end: at(end),
            },
            at(end),
        )
    }

    fn reason(event: &UsageEventV1) -> Option<&'static str> {
        let validator = Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]);
        validator
            .check(event, &price_book(), at("2026-11-23T12:00:00Z"))
            .err()
            .map(|r| r.reason)
    }

    #[test]
    fn accepts_a_good_event() {
        assert_eq!(
            reason(&event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z")),
            None
        );
    }

    #[test]
    fn a_valid_event_gets_its_tenants_time_zone() {
        let validator = Validator::new(
            3600,
            300,
            [
                ("t1".to_owned(), Tz::Europe__Paris),
                ("t2".to_owned(), Tz::UTC),
            ],
        );
        let good = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        let now = at("2026-11-23T12:00:00Z");
        assert_eq!(
            validator.check(&good, &price_book(), now),
            Ok(Tz::Europe__Paris)
        );
    }

    #[test]
    fn rejects_each_rule_with_its_reason() {
        assert_eq!(
            reason(&event(1, "2026-11-23T10:00:10Z", "2026-11-23T10:00:10Z")),
            Some("invalid_interval")
        );
        assert_eq!(
            reason(&event(1, "2026-11-23T10:00:10Z", "2026-11-23T10:00:00Z")),
            Some("invalid_interval")
        );
        assert_eq!(
            reason(&event(1, "2026-11-23T08:00:00Z", "2026-11-23T09:00:01Z")),
            Some("interval_too_long")
        );
        assert_eq!(
            reason(&event(1, "2026-11-23T08:00:00Z", "2026-11-23T09:00:00Z")),
            None
        );
        assert_eq!(
            reason(&event(1, "2026-11-23T12:05:00Z", "2026-11-23T12:05:01Z")),
            Some("future_interval")
        );
        assert_eq!(
            reason(&event(1, "2025-11-23T10:00:00Z", "2025-11-23T10:00:10Z")),
            Some("sku_unpriced")
        );
        let mut unknown_sku = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        unknown_sku.data.sku = "A100".into();
        assert_eq!(reason(&unknown_sku), Some("unknown_sku"));
        let mut unknown_tenant = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        unknown_tenant.data.tenant_id = "nobody".into();
        assert_eq!(reason(&unknown_tenant), Some("unknown_tenant"));
    }
}
