//! Reserved capacity: GPUs of a SKU held for the tenant over a term, billed for every second of
//! the month the term covers, whether used or not. The month is the tenant's: a calendar month of
//! its time zone.

use crate::money::usage_amount;
use crate::period::{BillingPeriod, Tz};
use crate::rating::gpu_seconds;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// `gpus` GPUs of `sku` held for the tenant over `[start, end)` at `price_per_gpu_hour`, billed
/// whether used or not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reservation {
    pub sku: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub gpus: u32,
    pub price_per_gpu_hour: Decimal,
}

impl Reservation {
    /// Exact seconds of `period`, a month of `time_zone`, inside the term: the whole month, the
    /// part after a start or before an end that falls inside it, or zero.
    pub fn covered_seconds(&self, period: BillingPeriod, time_zone: Tz) -> Decimal {
        let from = self.start.max(period.start_in(time_zone));
        let until = self.end.min(period.end_in(time_zone));
        if until <= from {
            return Decimal::ZERO;
        }
        gpu_seconds(from, until)
    }

    /// GPU-seconds reserved in `period` of `time_zone`: every reserved GPU for every covered
    /// second.
    pub fn reserved_gpu_seconds(&self, period: BillingPeriod, time_zone: Tz) -> Decimal {
        Decimal::from(self.gpus) * self.covered_seconds(period, time_zone)
    }

    /// What the reservation costs in `period` of `time_zone`, at full precision.
    pub fn amount(&self, period: BillingPeriod, time_zone: Tz) -> Decimal {
        usage_amount(
            self.reserved_gpu_seconds(period, time_zone),
            self.price_per_gpu_hour,
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pricebook::tests::at;
    use rust_decimal::dec;

    pub(crate) fn reservation(
        sku: &str,
        gpus: u32,
        price: Decimal,
        start: &str,
        end: &str,
    ) -> Reservation {
        Reservation {
            sku: sku.into(),
            start: at(start),
            end: at(end),
            gpus,
            price_per_gpu_hour: price,
        }
    }

    fn november() -> BillingPeriod {
        "2026-11".parse().unwrap()
    }

    #[test]
    fn a_term_covering_the_whole_month_covers_every_second_of_it() {
        let whole = reservation(
            "H100",
            8,
            dec!(1.80),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        // 30 days × 86,400 s.
        assert_eq!(whole.covered_seconds(november(), Tz::UTC), dec!(2592000));
        assert_eq!(
            whole.reserved_gpu_seconds(november(), Tz::UTC),
            dec!(20736000)
        );
        // 8 GPUs × 720 h × 1.80 = 10,368.00
        assert_eq!(whole.amount(november(), Tz::UTC), dec!(10368));
        // February 2026 has 28 days: 8 × 672 h × 1.80 = 9,676.80
        let february = "2026-02".parse().unwrap();
        assert_eq!(whole.amount(february, Tz::UTC), dec!(9676.8));
    }

    #[test]
    fn a_term_starting_or_ending_inside_the_month_is_prorated_to_the_second() {
        // Starts 16 November 00:00: 15 days = 360 h of November.
        let second_half = reservation(
            "H100",
            4,
            dec!(1.80),
            "2026-11-16T00:00:00Z",
            "2027-05-16T00:00:00Z",
        );
        assert_eq!(
            second_half.covered_seconds(november(), Tz::UTC),
            dec!(1296000)
        );
        // 4 × 360 h × 1.80 = 2,592.00
        assert_eq!(second_half.amount(november(), Tz::UTC), dec!(2592));
        // Ends 10 November 09:30:15: 9 days 9 h 30 min 15 s = 811,815 s.
        let first_days = reservation(
            "H100",
            1,
            dec!(1.80),
            "2026-10-01T00:00:00Z",
            "2026-11-10T09:30:15Z",
        );
        assert_eq!(
            first_days.covered_seconds(november(), Tz::UTC),
            dec!(811815)
        );
        // 811,815 s × 1.80 / 3600 = 405.9075
        assert_eq!(first_days.amount(november(), Tz::UTC), dec!(405.9075));
        // Starts and ends inside the month: 1 h 0.5 s.
        let inside = reservation(
            "H100",
            2,
            dec!(1),
            "2026-11-03T10:00:00Z",
            "2026-11-03T11:00:00.5Z",
        );
        assert_eq!(inside.covered_seconds(november(), Tz::UTC), dec!(3600.5));
        assert_eq!(inside.reserved_gpu_seconds(november(), Tz::UTC), dec!(7201));
    }

    #[test]
    fn the_month_covered_is_the_tenants_local_month() {
        let whole = reservation(
            "H100",
            1,
            dec!(1),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        // October 2026 in Paris runs from 30 September 22:00 to 31 October 23:00 UTC: 745 h,
        // with the hour the clocks went back.
        let october = "2026-10".parse().unwrap();
        assert_eq!(
            whole.covered_seconds(october, Tz::Europe__Paris),
            dec!(745) * dec!(3600)
        );
        assert_eq!(whole.amount(october, Tz::Europe__Paris), dec!(745));
        assert_eq!(whole.amount(october, Tz::UTC), dec!(744));
        // A term starting at 00:00 UTC on 16 November starts at 01:00 in Paris: November in
        // Paris ends at 23:00 UTC on the 30th, so the term covers 15 days less one hour.
        let second_half = reservation(
            "H100",
            1,
            dec!(1),
            "2026-11-16T00:00:00Z",
            "2027-05-16T00:00:00Z",
        );
        assert_eq!(
            second_half.covered_seconds(november(), Tz::Europe__Paris),
            dec!(359) * dec!(3600)
        );
    }

    #[test]
    fn a_term_outside_the_month_covers_nothing() {
        let before = reservation(
            "H100",
            4,
            dec!(1.80),
            "2026-01-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
        );
        let after = reservation(
            "H100",
            4,
            dec!(1.80),
            "2026-12-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        for outside in [before, after] {
            assert_eq!(outside.covered_seconds(november(), Tz::UTC), dec!(0));
            assert_eq!(outside.amount(november(), Tz::UTC), dec!(0));
        }
    }
}
