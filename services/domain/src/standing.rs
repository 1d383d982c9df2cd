//! A tenant's month at a glance, decided: how close a figure is to its cap (the portal's gauges
//! mark 75, 90 and 100 %) and the projected month-end (the draft so far plus what running
//! allocations cost at their rate until the month ends or they reach their maximum duration).

use crate::money::{CENT_PLACES, round_to_cents};
use crate::vat::{TaxableAmount, VatBreakdown, VatBreakdownError, VatCategory, vat_per_rate};
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// How close a figure is to its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Below 75 %.
    Ok,
    /// From 75 %.
    Notice,
    /// From 90 %.
    Warning,
    /// At or above the cap.
    Reached,
}

/// The marks, in percent, from which a gauge is at `Notice`, `Warning` and `Reached`.
pub const MARKS_PERCENT: [u32; 3] = [75, 90, 100];

/// A figure against its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meter {
    pub cap: Decimal,
    pub used: Decimal,
    /// `used / cap × 100`, two places, half-even; 100 when the cap is zero (nothing is allowed).
    pub percent: Decimal,
    pub level: Level,
}

/// `used` against `cap`. The level is decided on the exact ratio, not the rounded percent, so
/// 89.996 % is `Notice` although it shows as 90.00.
pub fn meter(cap: Decimal, used: Decimal) -> Meter {
    assert!(
        cap >= Decimal::ZERO,
        "caps are checked non-negative when loaded"
    );
    let exact = if cap.is_zero() {
        Decimal::ONE_HUNDRED
    } else {
        used * Decimal::ONE_HUNDRED / cap
    };
    let level = match exact {
        p if p >= Decimal::from(MARKS_PERCENT[2]) => Level::Reached,
        p if p >= Decimal::from(MARKS_PERCENT[1]) => Level::Warning,
        p if p >= Decimal::from(MARKS_PERCENT[0]) => Level::Notice,
        _ => Level::Ok,
    };
    Meter {
        cap,
        used,
        percent: {
            let mut percent =
                exact.round_dp_with_strategy(CENT_PLACES, RoundingStrategy::MidpointNearestEven);
            percent.rescale(CENT_PLACES);
            percent
        },
        level,
    }
}

/// A running allocation as the projection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningRate {
    /// GPUs (or MIG instances) it holds.
    pub units: u32,
    /// Net price per unit-hour it runs at.
    pub unit_price: Decimal,
    /// When it must end at the latest (`None`: no maximum, e.g. a static allocation).
    pub until: Option<DateTime<Utc>>,
}

/// The projection of a month's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthEnd {
    /// Net cost of running allocations from `now` to the month's end, to the cent.
    pub still_to_run: Decimal,
    /// What they cost per hour now, net, to the cent.
    pub run_rate_per_hour: Decimal,
}

const SECONDS_PER_HOUR: i64 = 3600;

/// What `running` will still cost from `now` until `period_end` (each until its own end if that
/// is sooner): units × unit price × hours left, summed exactly and rounded once to the cent.
pub fn project_month_end(
    running: &[RunningRate],
    now: DateTime<Utc>,
    period_end: DateTime<Utc>,
) -> MonthEnd {
    let mut still_to_run = Decimal::ZERO;
    let mut rate = Decimal::ZERO;
    for allocation in running {
        let end = allocation
            .until
            .map_or(period_end, |until| until.min(period_end));
        let per_hour = Decimal::from(allocation.units) * allocation.unit_price;
        if end > now {
            rate += per_hour;
            let seconds = Decimal::from((end - now).num_seconds());
            still_to_run += per_hour * seconds / Decimal::from(SECONDS_PER_HOUR);
        }
    }
    MonthEnd {
        still_to_run: round_to_cents(still_to_run),
        run_rate_per_hour: round_to_cents(rate),
    }
}

/// The month's projected invoice: the draft's net plus what is still to run, taxed as the draft
/// is (one VAT category and rate per tenant), VAT rounded once on the whole.
pub fn projected_invoice(
    draft_net: Decimal,
    month_end: &MonthEnd,
    category: VatCategory,
    rate: Decimal,
) -> Result<VatBreakdown, VatBreakdownError> {
    vat_per_rate([TaxableAmount {
        category,
        rate,
        net: draft_net + month_end.still_to_run,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a test instant")
    }

    #[test]
    fn levels_switch_at_75_90_and_100_percent_of_the_exact_ratio() {
        let cap = dec!(1000);
        let level = |used| meter(cap, used).level;
        assert_eq!(level(dec!(749.99)), Level::Ok);
        assert_eq!(level(dec!(750)), Level::Notice);
        assert_eq!(level(dec!(899.99)), Level::Notice);
        assert_eq!(level(dec!(900)), Level::Warning);
        assert_eq!(level(dec!(999.999)), Level::Warning);
        assert_eq!(meter(cap, dec!(999.999)).percent, dec!(100.00));
        assert_eq!(level(dec!(1000)), Level::Reached);
        assert_eq!(level(dec!(1500)), Level::Reached);
        assert_eq!(meter(dec!(3), dec!(1)).percent, dec!(33.33));
        assert_eq!(meter(dec!(8), dec!(1)).percent, dec!(12.50));
        let nothing_allowed = meter(Decimal::ZERO, Decimal::ZERO);
        assert_eq!(
            (nothing_allowed.percent, nothing_allowed.level),
            (dec!(100.00), Level::Reached)
        );
    }

    #[test]
    fn running_allocations_count_until_the_month_ends_or_they_must_stop() {
        let now = at("2026-12-30T23:00:00Z");
        let period_end = at("2027-01-01T00:00:00Z");
        let running = [
            // 25 hours left in the month: 8 × 2.10 × 25 = 420.00.
            RunningRate {
                units: 8,
                unit_price: dec!(2.10),
                until: None,
            },
            // Stops in 90 minutes: 2 × 1.89 × 1.5 = 5.67.
            RunningRate {
                units: 2,
                unit_price: dec!(1.89),
                until: Some(at("2026-12-31T00:30:00Z")),
            },
            // Already past its maximum: nothing more, and no rate.
            RunningRate {
                units: 4,
                unit_price: dec!(3),
                until: Some(at("2026-12-30T22:00:00Z")),
            },
        ];
        let projection = project_month_end(&running, now, period_end);
        assert_eq!(projection.still_to_run, dec!(425.67));
        assert_eq!(projection.run_rate_per_hour, dec!(20.58));
        let invoice = projected_invoice(
            dec!(1000.00),
            &projection,
            VatCategory::Standard,
            dec!(0.20),
        )
        .expect("a rate of the standard category");
        assert_eq!(
            (invoice.net_total, invoice.vat_total, invoice.total),
            (dec!(1425.67), dec!(285.13), dec!(1710.80))
        );
        let none = project_month_end(&[], now, period_end);
        assert_eq!(
            (none.still_to_run, none.run_rate_per_hour),
            (dec!(0.00), dec!(0.00))
        );
    }
}
