//! Reserved capacity: GPUs of a SKU held for the tenant over a term, billed for every second of
//! the month the term covers, whether used or not.

use crate::money::usage_amount;
use crate::period::BillingPeriod;
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
    /// Exact seconds of `period` inside the term: the whole month, the part after a start or
    /// before an end that falls inside it, or zero.
    pub fn covered_seconds(&self, period: BillingPeriod) -> Decimal {
        let from = self.start.max(period.start());
        let until = self.end.min(period.end());
        if until <= from {
            return Decimal::ZERO;
        }
        gpu_seconds(from, until)
    }

    /// GPU-seconds reserved in `period`: every reserved GPU for every covered second.
    pub fn reserved_gpu_seconds(&self, period: BillingPeriod) -> Decimal {
        Decimal::from(self.gpus) * self.covered_seconds(period)
    }

    /// What the reservation costs in `period`, at full precision.
    pub fn amount(&self, period: BillingPeriod) -> Decimal {
        usage_amount(self.reserved_gpu_seconds(period), self.price_per_gpu_hour)
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
        assert_eq!(whole.covered_seconds(november()), dec!(2592000));
        assert_eq!(whole.reserved_gpu_seconds(november()), dec!(20736000));
        // 8 GPUs × 720 h × 1.80 = 10,368.00
        assert_eq!(whole.amount(november()), dec!(10368));
        // February 2026 has 28 days: 8 × 672 h × 1.80 = 9,676.80
        let february = "2026-02".parse().unwrap();
        assert_eq!(whole.amount(february), dec!(9676.8));
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
        assert_eq!(second_half.covered_seconds(november()), dec!(1296000));
        // 4 × 360 h × 1.80 = 2,592.00
        assert_eq!(second_half.amount(november()), dec!(2592));
        // Ends 10 November 09:30:15: 9 days 9 h 30 min 15 s = 811,815 s.
        let first_days = reservation(
            "H100",
            1,
            dec!(1.80),
            "2026-10-01T00:00:00Z",
            "2026-11-10T09:30:15Z",
        );
        assert_eq!(first_days.covered_seconds(november()), dec!(811815));
        // 811,815 s × 1.80 / 3600 = 405.9075
        assert_eq!(first_days.amount(november()), dec!(405.9075));
        // Starts and ends inside the month: 1 h 0.5 s.
        let inside = reservation(
            "H100",
            2,
            dec!(1),
            "2026-11-03T10:00:00Z",
            "2026-11-03T11:00:00.5Z",
        );
        assert_eq!(inside.covered_seconds(november()), dec!(3600.5));
        assert_eq!(inside.reserved_gpu_seconds(november()), dec!(7201));
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
            assert_eq!(outside.covered_seconds(november()), dec!(0));
            assert_eq!(outside.amount(november()), dec!(0));
        }
    }
}
