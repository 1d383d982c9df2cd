//! Rating: turns a metered interval of one GPU, sold under one price class, into priced segments.
//! An interval is split where a billing period of the tenant's time zone ends and where the SKU's
//! price version changes, so each segment has one period (the tenant's month it lies in) and one
//! price: the class's price in the version in force.
//! Quantities are exact GPU-seconds (nanosecond resolution); amounts keep full precision.

use crate::money::usage_amount;
use crate::period::{BillingPeriod, Tz};
use crate::pricebook::{PriceBook, PriceClass};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// A piece of an interval with a single billing period (a month of the tenant's time zone) and a
/// single price (the interval's class's price in one version).
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

/// Prices one GPU's usage of `sku` over `[start, end)`, sold as `class` to a tenant whose
/// billing months are those of `time_zone`.
pub fn rate_interval(
    book: &PriceBook,
    sku: &str,
    class: PriceClass,
    time_zone: Tz,
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
    let mut period_end = BillingPeriod::containing_in(start, time_zone).end_in(time_zone);
    while period_end < end {
        cuts.push(period_end);
        period_end = BillingPeriod::containing_in(period_end, time_zone).end_in(time_zone);
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
            period: BillingPeriod::containing_in(segment_start, time_zone),
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
        rate_interval(&book(), sku, PriceClass::OnDemand, Tz::UTC, start, end)
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
                let segments = rate_interval(&book(), H100, class, Tz::UTC, start, end).unwrap();
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
            let segments = rate_interval(&book(), H100, class, Tz::UTC, start, end).unwrap();
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
    fn an_interval_is_cut_where_the_tenants_month_ends() {
        // 2026-11-01 00:00 in Paris is 2026-10-31 23:00 UTC (winter time, UTC+1).
        let paris = Tz::Europe__Paris;
        let (start, end) = (at("2026-10-31T22:59:55Z"), at("2026-10-31T23:00:05Z"));
        let segments =
            rate_interval(&book(), H100, PriceClass::OnDemand, paris, start, end).unwrap();
        let shape: Vec<(String, DateTime<Utc>, Decimal)> = segments
            .iter()
            .map(|s| (s.period.to_string(), s.start, s.gpu_seconds))
            .collect();
        assert_eq!(
            shape,
            [
                ("2026-10".to_owned(), start, dec!(5)),
                ("2026-11".to_owned(), at("2026-10-31T23:00:00Z"), dec!(5)),
            ]
        );
        // The same interval is all October in UTC, and UTC's month end is no cut in Paris.
        let utc = rate(H100, start, end).unwrap();
        assert_eq!(utc.len(), 1);
        assert_eq!(utc[0].period.to_string(), "2026-10");
        let across_utc_midnight = rate_interval(
            &book(),
            H100,
            PriceClass::OnDemand,
            paris,
            at("2026-10-31T23:59:55Z"),
            at("2026-11-01T00:00:05Z"),
        )
        .unwrap();
        assert_eq!(across_utc_midnight.len(), 1);
        assert_eq!(across_utc_midnight[0].period.to_string(), "2026-11");
    }

    #[test]
    fn a_local_month_holds_its_daylight_saving_hours() {
        // One GPU over the whole of March and October 2026 in Paris, as one interval each.
        let paris = Tz::Europe__Paris;
        for (month, hours) in [("2026-03", 743), ("2026-10", 745)] {
            let period: BillingPeriod = month.parse().unwrap();
            // A day either side, so both month ends cut the interval.
            let (start, end) = (
                period.start_in(paris) - Duration::days(1),
                period.end_in(paris) + Duration::days(1),
            );
            let segments =
                rate_interval(&book(), H100, PriceClass::OnDemand, paris, start, end).unwrap();
            let inside: Vec<&RatedSegment> =
                segments.iter().filter(|s| s.period == period).collect();
            assert_eq!(inside.len(), 1, "{month}");
            assert_eq!(
                inside[0].gpu_seconds,
                Decimal::from(hours * 3600),
                "{month}"
            );
            assert_eq!(segments.len(), 3, "{month}");
        }
    }

    #[test]
    fn a_year_boundary_falls_at_local_midnight_behind_and_ahead_of_utc() {
        let (start, end) = (at("2026-12-31T12:00:00Z"), at("2027-01-01T12:00:00Z"));
        for (time_zone, new_year) in [
            (Tz::America__New_York, at("2027-01-01T05:00:00Z")),
            (Tz::Asia__Tokyo, at("2026-12-31T15:00:00Z")),
            (Tz::UTC, at("2027-01-01T00:00:00Z")),
        ] {
            let segments =
                rate_interval(&book(), H100, PriceClass::OnDemand, time_zone, start, end).unwrap();
            let shape: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = segments
                .iter()
                .map(|s| (s.period.to_string(), s.start, s.end))
                .collect();
            assert_eq!(
                shape,
                [
                    ("2026-12".to_owned(), start, new_year),
                    ("2027-01".to_owned(), new_year, end),
                ],
                "{time_zone}"
            );
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
                rate_interval(
                    &book(),
                    H100,
                    class,
                    Tz::UTC,
                    early,
                    early + Duration::seconds(5)
                ),
                Err(RatingError::NoPriceInForce { .. })
            ));
        }
    }

    fn any_class() -> impl Strategy<Value = PriceClass> {
        prop::sample::select(PriceClass::ALL.to_vec())
    }

    /// UTC, zones ahead of and behind it with and without daylight saving time, and a
    /// half-hour offset.
    fn any_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            Tz::UTC,
            Tz::Europe__Paris,
            Tz::America__New_York,
            Tz::Asia__Tokyo,
            Tz::Asia__Kolkata,
            Tz::Australia__Sydney,
        ])
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
                rate_interval(&book(), H100, class, Tz::UTC, start, end).is_ok()
            );
        }

        /// However an interval is cut in two, the pieces rate to the same quantity and the same
        /// amount (within 1e-12 EUR, the 28th digit of a division) as the whole, in any zone.
        #[test]
        fn splitting_an_interval_never_changes_quantity_or_amount(
            start_ns in 0i64..(90 * 24 * 3600 * 1_000_000_000i64),
            length_ns in 1i64..(3 * 3600 * 1_000_000_000i64),
            cut_fraction in 0.0f64..1.0,
            class in any_class(),
            time_zone in any_zone(),
        ) {
            let base = at("2026-10-20T00:00:00Z");
            let start = base + Duration::nanoseconds(start_ns);
            let end = start + Duration::nanoseconds(length_ns);
            let cut_ns = ((length_ns as f64) * cut_fraction) as i64;
            prop_assume!(cut_ns > 0 && cut_ns < length_ns);
            let cut = start + Duration::nanoseconds(cut_ns);

            let whole = rate_interval(&book(), H100, class, time_zone, start, end).unwrap();
            let mut parts = rate_interval(&book(), H100, class, time_zone, start, cut).unwrap();
            parts.extend(rate_interval(&book(), H100, class, time_zone, cut, end).unwrap());

            let seconds = |s: &[RatedSegment]| s.iter().map(|x| x.gpu_seconds).sum::<Decimal>();
            prop_assert_eq!(seconds(&whole), seconds(&parts));
            prop_assert_eq!(seconds(&whole), gpu_seconds(start, end));
            let amount = |s: &[RatedSegment]| s.iter().map(|x| x.amount).sum::<Decimal>();
            prop_assert!((amount(&whole) - amount(&parts)).abs() < dec!(0.000000000001));
        }

        /// Segments cover the interval exactly, end to end, each inside the tenant-local period
        /// it is labelled with, and split only where a local month or a price version changes:
        /// intervals of up to 80 days over March to May 2026 and over the 2026/2027 year end.
        #[test]
        fn segments_tile_the_interval_within_their_local_periods(
            start_s in 0i64..(80 * 24 * 3600i64),
            length_s in 1i64..(80 * 24 * 3600i64),
            year_end in any::<bool>(),
            class in any_class(),
            time_zone in any_zone(),
        ) {
            let base = at(if year_end { "2026-11-20T00:00:00Z" } else { "2026-02-20T00:00:00Z" });
            let start = base + Duration::seconds(start_s);
            let end = start + Duration::seconds(length_s);
            let segments = rate_interval(&book(), H100, class, time_zone, start, end).unwrap();
            prop_assert_eq!(segments.first().map(|s| s.start), Some(start));
            prop_assert_eq!(segments.last().map(|s| s.end), Some(end));
            for pair in segments.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
                // A cut is where a local month ends or the price changes, never elsewhere.
                prop_assert!(
                    pair[0].period != pair[1].period
                        || pair[0].price_per_gpu_hour != pair[1].price_per_gpu_hour
                );
            }
            for segment in &segments {
                prop_assert!(segment.start < segment.end);
                prop_assert!(segment.period.start_in(time_zone) <= segment.start);
                prop_assert!(segment.end <= segment.period.end_in(time_zone));
                prop_assert_eq!(segment.gpu_seconds, gpu_seconds(segment.start, segment.end));
            }
            prop_assert_eq!(
                segments.iter().map(|s| s.gpu_seconds).sum::<Decimal>(),
                gpu_seconds(start, end)
            );
        }
    }
}
