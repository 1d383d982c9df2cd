//! A tenant's usage as a series: metered GPU-seconds per span of time (an hour, a day or a month
//! of the tenant's time zone) and per group (SKU, price class, allocation, or any mix), with an
//! amount at list price. Rounding is once per bucket: GPU-seconds to 6 places, the amount
//! half-even to the cent from the exact GPU-seconds; totals add the rounded buckets, so a table
//! of the buckets adds up to its total line.

use crate::money::{round_to_cents, usage_amount};
use crate::period::{BillingPeriod, day_start_in};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Places GPU-seconds are shown with.
pub const GPU_SECONDS_PLACES: u32 = 6;

/// The length of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Span {
    Hour,
    Day,
    Month,
}

impl Span {
    /// The end of the bucket that starts at `start` (a start this span produced).
    pub fn end(self, start: DateTime<Utc>, time_zone: Tz) -> DateTime<Utc> {
        match self {
            Self::Hour => start + Duration::hours(1),
            Self::Day => {
                let day = start.with_timezone(&time_zone).date_naive();
                day_start_in(day + chrono::Days::new(1), time_zone)
            }
            Self::Month => BillingPeriod::containing_in(start, time_zone).end_in(time_zone),
        }
    }
}

/// Metered usage of one allocation at one list price in one bucket, as the ledger reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteredBucket {
    pub start: DateTime<Utc>,
    pub allocation_id: String,
    pub sku: String,
    pub price_class: String,
    pub list_price: Decimal,
    pub gpu_seconds: Decimal,
}

/// Which of a bucket's facts the series keeps apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grouping {
    pub sku: bool,
    pub price_class: bool,
    pub allocation: bool,
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub sku: Option<String>,
    pub price_class: Option<String>,
    pub allocation_id: Option<String>,
    pub gpu_seconds: Decimal,
    pub amount: Decimal,
}

/// The series of `metered`, oldest first, then by group; with its totals (GPU-seconds, amount).
pub fn series(
    metered: impl IntoIterator<Item = MeteredBucket>,
    grouping: Grouping,
    span: Span,
    time_zone: Tz,
) -> (Vec<SeriesBucket>, Decimal, Decimal) {
    type Key = (
        DateTime<Utc>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut sums: BTreeMap<Key, (Decimal, Decimal)> = BTreeMap::new();
    for bucket in metered {
        let key = (
            bucket.start,
            grouping.sku.then(|| bucket.sku.clone()),
            grouping.price_class.then(|| bucket.price_class.clone()),
            grouping.allocation.then(|| bucket.allocation_id.clone()),
        );
        let sum = sums.entry(key).or_default();
        sum.0 += bucket.gpu_seconds;
        sum.1 += usage_amount(bucket.gpu_seconds, bucket.list_price);
    }
    let buckets: Vec<SeriesBucket> = sums
        .into_iter()
        .map(
            |((start, sku, price_class, allocation_id), (seconds, amount))| SeriesBucket {
                end: span.end(start, time_zone),
                start,
                sku,
                price_class,
                allocation_id,
                gpu_seconds: seconds
                    .round_dp_with_strategy(
                        GPU_SECONDS_PLACES,
                        RoundingStrategy::MidpointNearestEven,
                    )
                    .normalize(),
                amount: round_to_cents(amount),
            },
        )
        .collect();
    let seconds = buckets.iter().map(|bucket| bucket.gpu_seconds).sum();
    let amount = round_to_cents(buckets.iter().map(|bucket| bucket.amount).sum());
    (buckets, seconds, amount)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rust_decimal::dec;

    fn metered(start: &str, allocation: &str, class: &str, seconds: Decimal) -> MeteredBucket {
        MeteredBucket {
            start: DateTime::parse_from_rfc3339(start)
                .unwrap()
                .with_timezone(&Utc),
            allocation_id: allocation.to_owned(),
            sku: "H100-SXM5-80GB".to_owned(),
            price_class: class.to_owned(),
            list_price: if class == "spot" {
                dec!(1.25)
            } else {
                dec!(2.49)
            },
            gpu_seconds: seconds,
        }
    }

    #[test]
    fn buckets_are_grouped_as_asked_and_add_up_to_their_totals() {
        let paris = chrono_tz::Europe::Paris;
        let rows = [
            metered("2026-10-24T22:00:00Z", "a", "on_demand", dec!(1800)),
            metered("2026-10-24T22:00:00Z", "b", "spot", dec!(3600)),
            metered("2026-10-25T22:00:00Z", "a", "on_demand", dec!(0.0000004)),
        ];
        let by_class = Grouping {
            price_class: true,
            ..Grouping::default()
        };
        let (buckets, seconds, amount) = series(rows.clone(), by_class, Span::Day, paris);
        assert_eq!(buckets.len(), 3);
        // 25 October 2026 in Paris has 25 hours (the clocks go back).
        assert_eq!(buckets[0].end - buckets[0].start, Duration::hours(25));
        // 1,800 s at 2.49 is 1.245: half-even, 1.24.
        assert_eq!(
            (buckets[0].amount, buckets[1].amount),
            (dec!(1.24), dec!(1.25))
        );
        assert_eq!(buckets[2].gpu_seconds, dec!(0));
        assert_eq!((seconds, amount), (dec!(5400), dec!(2.49)));
        let (all, _, _) = series(rows, Grouping::default(), Span::Day, paris);
        assert_eq!(all.len(), 2, "one bucket per day without a split");
        let october = DateTime::parse_from_rfc3339("2026-09-30T22:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Span::Month.end(october, paris).to_rfc3339(),
            "2026-10-31T23:00:00+00:00"
        );
    }
}
