//! Rating: turns a metered interval of one GPU, sold under one price class, into priced segments.
//! An interval is split where a billing period ends and where the SKU's price version changes, so
//! each segment has one period and one price: the class's price in the version in force.
//! Quantities are exact GPU-seconds (nanosecond resolution); amounts keep full precision.

use crate::money::usage_amount;
use crate::period::BillingPeriod;
use crate::pricebook::{PriceBook, PriceClass};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// A piece of an interval with a single billing period and a single price (the interval's class's
/// price in one version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedSegment {
    pub period: BillingPeriod,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub gpu_seconds: Decimal,
    pub price_per_gpu_hour: Decimal,
    /// `gpu_seconds × price / 3600` at full precision; rounded only on the invoice line.
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("unknown SKU `{0}`")]
    UnknownSku(String),
    #[error("SKU `{sku}` has no price in force at {at}")]
    NoPriceInForce { sku: String, at: DateTime<Utc> },
    #[error("interval end {end} is not after its start {start}")]
    EmptyInterval {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

/// Exact length of `[start, end)` in seconds, to the nanosecond. One GPU for that long is that
/// many GPU-seconds.
pub fn gpu_seconds(start: DateTime<Utc>, end: DateTime<Utc>) -> Decimal {
    let span = end - start;
    match span.num_nanoseconds() {
        Some(nanos) => Decimal::new(nanos, 9).normalize(),
        // Spans beyond ~292 years cannot be metered intervals; microseconds still fit.
        None => Decimal::new(span.num_microseconds().unwrap_or(i64::MAX), 6).normalize(),
    }
}

/// Whether usage of `sku` from `start` on can be rated. A price version stays in force until the
/// next one, so an interval is priced throughout exactly when it is priced at its start: this is
/// [`rate_interval`]'s only failure on a non-empty interval, without building the segments. Every
/// version prices every class, so the class does not matter here.
pub fn check_priced(book: &PriceBook, sku: &str, start: DateTime<Utc>) -> Result<(), RatingError> {
    let prices = book
        .sku(sku)
        .ok_or_else(|| RatingError::UnknownSku(sku.to_owned()))?;
    match prices.version_at(start) {
        Some(_) => Ok(()),
        None => Err(RatingError::NoPriceInForce {
            sku: sku.to_owned(),
            at: start,
        }),
    }
}

/// Prices one GPU's usage of `sku` over `[start, end)`, sold as `class`.
pub fn rate_interval(
    book: &PriceBook,
    sku: &str,
    class: PriceClass,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<RatedSegment>, RatingError> {
    if end <= start {
        return Err(RatingError::EmptyInterval { start, end });
    }
    let prices = book
        .sku(sku)
        .ok_or_else(|| RatingError::UnknownSku(sku.to_owned()))?;

    let mut cuts: Vec<DateTime<Utc>> = prices.changes_within(start, end).collect();
    let mut period = BillingPeriod::containing(start);
    while period.end() < end {
        cuts.push(period.end());
        period = period.next();
    }
    cuts.push(end);
    cuts.sort_unstable();
    cuts.dedup();

    let mut segments = Vec::with_capacity(cuts.len());
    let mut segment_start = start;
    for segment_end in cuts {
        let version =
            prices
                .version_at(segment_start)
                .ok_or_else(|| RatingError::NoPriceInForce {
                    sku: sku.to_owned(),
                    at: segment_start,
                })?;
        let seconds = gpu_seconds(segment_start, segment_end);
        let price = version.price(class);
        segments.push(RatedSegment {
            period: BillingPeriod::containing(segment_start),
            start: segment_start,
            end: segment_end,
            gpu_seconds: seconds,
            price_per_gpu_hour: price,
            amount: usage_amount(seconds, price),
        });
        segment_start = segment_end;
    }
    debug_assert_eq!(
        segments.iter().map(|s| s.gpu_seconds).sum::<Decimal>(),
        gpu_seconds(start, end),
        "segments must cover the interval exactly"
    );
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::round_to_cents;
    use crate::pricebook::tests::{at, h100};
    use chrono::Duration;
    use proptest::prelude::*;
    use rust_decimal::dec;

    const H100: &str = "H100-SXM5-80GB";

    /// The H100 at 2.49 / 1.25 / 1.89 (on demand / spot / reserved), then from 2026-11-15 12:00
    /// at 2.19 / 1.09 / 1.69.
    fn book() -> PriceBook {
        PriceBook::new(
            "EUR",
            vec![h100(&[
                ("2026-01-01T00:00:00Z", [dec!(2.49), dec!(1.25), dec!(1.89)]),
                ("2026-11-15T12:00:00Z", [dec!(2.19), dec!(1.09), dec!(1.69)]),
            ])],
        )
        .unwrap()
    }

    /// On-demand usage, as every test did before classes.
    fn rate(
        sku: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<RatedSegment>, RatingError> {
        rate_interval(&book(), sku, PriceClass::OnDemand, start, end)
    }

    #[test]
    fn ten_second_interval() {
        let segments = rate(H100, at("2026-11-02T10:00:00Z"), at("2026-11-02T10:00:10Z")).unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].gpu_seconds, dec!(10));
        assert_eq!(segments[0].price_per_gpu_hour, dec!(2.49));
        // 2.49 / 360 does not terminate: the amount is kept to 28 digits, never rounded here.
        assert_eq!(round_to_cents(segments[0].amount * dec!(360)), dec!(2.49));
    }

    #[test]
    fn sub_second_interval_is_exact_to_the_nanosecond() {
        let start = at("2026-11-02T10:00:00Z");
        let segments = rate(H100, start, start + Duration::nanoseconds(250_000_001)).unwrap();
        assert_eq!(segments[0].gpu_seconds, dec!(0.250000001));
        let millis = rate(H100, start, start + Duration::milliseconds(1)).unwrap();
        assert_eq!(millis[0].gpu_seconds, dec!(0.001));
        // 3.6 million one-millisecond intervals are one GPU-hour: one hourly price, to the cent.
        assert_eq!(round_to_cents(millis[0].amount * dec!(3600000)), dec!(2.49));
    }

    #[test]
    fn interval_crossing_an_hour_is_one_segment() {
        let segments = rate(H100, at("2026-11-02T10:59:55Z"), at("2026-11-02T11:00:05Z")).unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].gpu_seconds, dec!(10));
    }

    #[test]
    fn interval_crossing_a_month_is_split_into_both_periods() {
        let segments = rate(H100, at("2026-10-31T23:59:57Z"), at("2026-11-01T00:00:07Z")).unwrap();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].period.to_string(), "2026-10");
        assert_eq!(segments[0].gpu_seconds, dec!(3));
        assert_eq!(segments[1].period.to_string(), "2026-11");
        assert_eq!(segments[1].gpu_seconds, dec!(7));
        assert_eq!(segments[1].start, at("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn interval_crossing_a_year_is_split() {
        let segments = rate(H100, at("2026-12-31T23:59:59Z"), at("2027-01-01T00:00:01Z")).unwrap();
        assert_eq!(
            segments
                .iter()
                .map(|s| s.period.to_string())
                .collect::<Vec<_>>(),
            ["2026-12", "2027-01"]
        );
    }

    #[test]
    fn interval_crossing_a_price_change_uses_both_prices() {
        let segments = rate(H100, at("2026-11-15T11:30:00Z"), at("2026-11-15T12:30:00Z")).unwrap();
        assert_eq!(segments.len(), 2);
        assert_eq!(
            (segments[0].price_per_gpu_hour, segments[0].gpu_seconds),
            (dec!(2.49), dec!(1800))
        );
        assert_eq!(
            (segments[1].price_per_gpu_hour, segments[1].gpu_seconds),
            (dec!(2.19), dec!(1800))
        );
        let total: Decimal = segments.iter().map(|s| s.amount).sum();
        assert_eq!(total, dec!(2.34));
    }

    #[test]
    fn each_class_is_priced_at_its_own_price() {
        let (start, end) = (at("2026-11-02T10:00:00Z"), at("2026-11-02T11:00:00Z"));
        let priced: Vec<(PriceClass, Decimal, Decimal)> = PriceClass::ALL
            .into_iter()
            .map(|class| {
                let segments = rate_interval(&book(), H100, class, start, end).unwrap();
                assert_eq!(segments.len(), 1, "{class}");
                (class, segments[0].price_per_gpu_hour, segments[0].amount)
            })
            .collect();
        // One GPU-hour: each amount is its class's hourly price.
        assert_eq!(
            priced,
            [
                (PriceClass::OnDemand, dec!(2.49), dec!(2.49)),
                (PriceClass::Spot, dec!(1.25), dec!(1.25)),
                (PriceClass::Reserved, dec!(1.89), dec!(1.89)),
            ]
        );
    }

    #[test]
    fn a_version_change_splits_every_class_at_its_own_prices() {
        let (start, end) = (at("2026-11-15T11:30:00Z"), at("2026-11-15T12:30:00Z"));
        for (class, before, after, total) in [
            (PriceClass::OnDemand, dec!(2.49), dec!(2.19), dec!(2.34)),
            (PriceClass::Spot, dec!(1.25), dec!(1.09), dec!(1.17)),
            (PriceClass::Reserved, dec!(1.89), dec!(1.69), dec!(1.79)),
        ] {
            let segments = rate_interval(&book(), H100, class, start, end).unwrap();
            let shape: Vec<(DateTime<Utc>, Decimal, Decimal)> = segments
                .iter()
                .map(|s| (s.start, s.gpu_seconds, s.price_per_gpu_hour))
                .collect();
            assert_eq!(
                shape,
                [
                    (start, dec!(1800), before),
                    (at("2026-11-15T12:00:00Z"), dec!(1800), after),
                ],
                "{class}"
            );
            let amount: Decimal = segments.iter().map(|s| s.amount).sum();
            assert_eq!(amount, total, "{class}");
        }
    }

    #[test]
    fn rejects_unknown_sku_empty_interval_and_unpriced_time() {
        let start = at("2026-11-02T10:00:00Z");
        assert_eq!(
            rate("A100", start, start + Duration::seconds(1)),
            Err(RatingError::UnknownSku("A100".into()))
        );
        assert!(matches!(
            rate(H100, start, start),
            Err(RatingError::EmptyInterval { .. })
        ));
        let early = at("2025-12-31T23:59:50Z");
        for class in PriceClass::ALL {
            assert!(matches!(
                rate_interval(&book(), H100, class, early, early + Duration::seconds(5)),
                Err(RatingError::NoPriceInForce { .. })
            ));
        }
    }

    fn any_class() -> impl Strategy<Value = PriceClass> {
        prop::sample::select(PriceClass::ALL.to_vec())
    }

    proptest! {
        /// `check_priced` accepts exactly the intervals `rate_interval` can price, in any class.
        #[test]
        fn check_priced_agrees_with_rating(
            start_s in -(30 * 24 * 3600i64)..(30 * 24 * 3600i64),
            length_s in 1i64..(3 * 24 * 3600i64),
            class in any_class(),
        ) {
            let start = at("2026-01-01T00:00:00Z") + Duration::seconds(start_s);
            let end = start + Duration::seconds(length_s);
            prop_assert_eq!(
                check_priced(&book(), H100, start).is_ok(),
                rate_interval(&book(), H100, class, start, end).is_ok()
            );
        }

        /// However an interval is cut in two, the pieces rate to the same quantity and the same
        /// amount (within 1e-12 EUR, the 28th digit of a division) as the whole.
        #[test]
        fn splitting_an_interval_never_changes_quantity_or_amount(
            start_ns in 0i64..(90 * 24 * 3600 * 1_000_000_000i64),
            length_ns in 1i64..(3 * 3600 * 1_000_000_000i64),
            cut_fraction in 0.0f64..1.0,
            class in any_class(),
        ) {
            let base = at("2026-10-20T00:00:00Z");
            let start = base + Duration::nanoseconds(start_ns);
            let end = start + Duration::nanoseconds(length_ns);
            let cut_ns = ((length_ns as f64) * cut_fraction) as i64;
            prop_assume!(cut_ns > 0 && cut_ns < length_ns);
            let cut = start + Duration::nanoseconds(cut_ns);

            let whole = rate_interval(&book(), H100, class, start, end).unwrap();
            let mut parts = rate_interval(&book(), H100, class, start, cut).unwrap();
            parts.extend(rate_interval(&book(), H100, class, cut, end).unwrap());

            let seconds = |s: &[RatedSegment]| s.iter().map(|x| x.gpu_seconds).sum::<Decimal>();
            prop_assert_eq!(seconds(&whole), seconds(&parts));
            prop_assert_eq!(seconds(&whole), gpu_seconds(start, end));
            let amount = |s: &[RatedSegment]| s.iter().map(|x| x.amount).sum::<Decimal>();
            prop_assert!((amount(&whole) - amount(&parts)).abs() < dec!(0.000000000001));
            for segment in &whole {
                prop_assert_eq!(BillingPeriod::containing(segment.start), segment.period);
                prop_assert!(segment.end <= segment.period.end());
            }
        }
    }
}
