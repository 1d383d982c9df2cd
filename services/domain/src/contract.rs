//! A tenant's contract and what it makes of one billing month: percentage discounts, GPU-hour
//! tiers, reserved capacity, a minimum monthly commitment, and prepaid credit.
//!
//! # Inputs
//!
//! Rating delivers, per (SKU, price class) and month, two running totals ([`UsageTotals`]): the
//! exact GPU-seconds and the list amount, `Σ GPU-seconds × list price / 3600` over the price
//! versions in force. List prices may change inside a month, so the list amount is taken as given
//! and never recomputed from one price.
//!
//! # Pricing rules
//!
//! 1. **A priced amount is a function of the two totals only.** [`priced_amount`] looks at the
//!    contract, the SKU, the class and the (GPU-seconds, list amount) totals, never at the events
//!    behind them. The aggregator can therefore price its running totals after each batch and book
//!    the difference from what it already booked ([`delta_to_book`]): whatever the order and
//!    grouping of the usage, the booked deltas add up to the price of the final totals, exactly.
//! 2. **Discount precedence.** A SKU's own percentage discount *replaces* the all-SKU discount; the
//!    two never stack. A SKU-specific 0 % therefore exempts that SKU from the all-SKU discount.
//! 3. **Tiers count monthly GPU-hours of on-demand usage** of the SKU, each band's lower bound
//!    inclusive: with bands from 0 h and 1,000 h, hour 1,000 is the last hour of the first band and
//!    a month of exactly 1,000 h is still wholly in it for a graduated schedule; a volume schedule
//!    switches to the 1,000 h band at exactly 1,000 h.
//!    - *Graduated*: each band's hours get that band's discount.
//!    - *Volume*: the band reached by the month's total hours gives one discount to all of them.
//!      Crossing a volume boundary lowers the month's amount, so a booked delta can be negative.
//!    - *Average price*: hours do not carry their own price once summed, so every band is priced
//!      at the month's average list price per GPU-hour, `list amount / hours`. A graduated amount
//!      is `Σ band hours × average price × (1 − band discount)`, which depends on the totals alone.
//!      With one price all month this is exactly the per-hour list price.
//! 4. **Tiers and the percentage discount multiply**: the SKU's discount applies to the tiered
//!    amount, `list × tier share × (1 − discount)`. Both factors lie in [0, 1], so a priced amount
//!    never exceeds the list amount and is never negative; with no terms it is the list amount.
//! 5. **Price classes.**
//!    - *On-demand*: tiers, then the discount.
//!    - *Spot*: the discount only. Spot capacity is already sold below on-demand; tiering it on its
//!      own hours would give a second list-priced first band, and counting its hours into the
//!      on-demand tiers would make one total's price depend on another's, which delta rating
//!      cannot follow.
//!    - *Reserved*: usage the scheduler placed on a reservation of the SKU is paid by the
//!      reservation line and priced at zero. It still appears on the invoice as a usage line with
//!      its GPU-seconds and a zero amount, so the tenant sees how much of the reservation was used.
//!      Reserved-class usage of a SKU the contract does not reserve is billed like spot (list less
//!      the discount): nothing covers it, and nothing is given away.
//! 6. **Reserved capacity** is billed whether used or not: `GPUs × hours of the month inside the
//!    term [start, end) × reserved price`, prorated to the nanosecond when the term starts or ends
//!    inside the month. All reservations of a SKU make one line. Usage beyond the reservation is
//!    labelled on-demand by the scheduler and priced as such; reserved-class usage that exceeds
//!    the month's reserved GPU-seconds, or falls in a month no term of its SKU covers, is refused
//!    when the month is drafted ([`MonthError`]).
//! 7. **Minimum monthly commitment.** When the month's rounded usage and reservation lines sum to
//!    less than the commitment, a true-up line adds the difference.
//! 8. **Prepaid credit** settles an amount due after the month is drafted, never more than is due
//!    and never more than the balance ([`apply_prepaid_credit`]).
//!
//! # Precision and rounding
//!
//! - A priced amount is rounded half-even to [`PRICED_AMOUNT_PLACES`] (18) decimal places, far
//!   below a cent. `Decimal` keeps 28 significant digits wherever the decimal point falls, so
//!   subtracting two 28-digit amounts of different magnitude can drop the last digit, and booked
//!   deltas would then drift from the priced total. At a fixed 18 places every delta and every sum
//!   of deltas is exact for amounts up to 7.9 × 10¹⁰ EUR per (tenant, SKU, class, month).
//! - A charge line's amount is rounded half-even to the cent once, from the line's exact amount.
//! - The month's total is the exact sum of the rounded lines; a true-up is in whole cents.
//!
//! # Line order
//!
//! Lines are sorted by SKU; within a SKU usage lines come first (on-demand, spot, reserved), then
//! the reservation line; the commitment true-up, which has no SKU, comes last.

mod month;
mod prepaid;
mod price_lines;
mod pricing;
mod reservation;
mod terms;
mod tiers;

pub use month::{ChargeKind, ChargeLine, MonthCharges, MonthError, RatedUsage, charges_for_month};
pub(crate) use month::{check_reserved_usage, reserved_by_sku, reserved_lines};
pub use prepaid::{CreditApplication, CreditError, apply_prepaid_credit};
pub use price_lines::{PriceLine, SecondsAtPrice, lines_amount, price_lines, totals_of};
pub use pricing::{PRICED_AMOUNT_PLACES, delta_to_book, priced_amount};
pub use reservation::Reservation;
pub use terms::{Contract, ContractError, ContractTerms};
pub use tiers::{MAX_DISCOUNT_PLACES, TierBand, TierError, TierKind, TierSchedule};

// Price classes are defined with the price book, which prices each of them; contracts were their
// first users and keep naming them here.
pub use crate::pricebook::{PriceClass, UnknownPriceClass};

use crate::money::SECONDS_PER_HOUR;
use rust_decimal::Decimal;
use std::ops::{Add, AddAssign};

/// Running month totals of one (SKU, price class), as rating produced them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// Exact GPU-seconds.
    pub gpu_seconds: Decimal,
    /// `Σ GPU-seconds × list price / 3600` over the price versions in force, full precision.
    pub list_amount: Decimal,
}

impl UsageTotals {
    pub fn new(gpu_seconds: Decimal, list_amount: Decimal) -> Self {
        Self {
            gpu_seconds,
            list_amount,
        }
    }

    pub fn gpu_hours(self) -> Decimal {
        self.gpu_seconds / SECONDS_PER_HOUR
    }

    /// The month's average list price per GPU-hour, the price every tier band is charged at;
    /// `None` without usage.
    pub fn average_price_per_gpu_hour(self) -> Option<Decimal> {
        if self.gpu_seconds.is_zero() {
            return None;
        }
        Some(self.list_amount * SECONDS_PER_HOUR / self.gpu_seconds)
    }
}

impl Add for UsageTotals {
    type Output = UsageTotals;

    fn add(self, other: UsageTotals) -> UsageTotals {
        UsageTotals {
            gpu_seconds: self.gpu_seconds + other.gpu_seconds,
            list_amount: self.list_amount + other.list_amount,
        }
    }
}

impl AddAssign for UsageTotals {
    fn add_assign(&mut self, other: UsageTotals) {
        *self = *self + other;
    }
}

impl std::iter::Sum for UsageTotals {
    fn sum<I: Iterator<Item = UsageTotals>>(totals: I) -> UsageTotals {
        totals.fold(UsageTotals::default(), Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn totals_add_field_by_field() {
        let totals: UsageTotals = [
            UsageTotals::new(dec!(3600), dec!(2.49)),
            UsageTotals::new(dec!(1800), dec!(1.095)),
        ]
        .into_iter()
        .sum();
        assert_eq!(totals, UsageTotals::new(dec!(5400), dec!(3.585)));
        assert_eq!(totals.gpu_hours(), dec!(1.5));
        // (2.49 + 1.095) / 1.5 h: the month's average list price per GPU-hour.
        assert_eq!(totals.average_price_per_gpu_hour(), Some(dec!(2.39)));
        assert_eq!(UsageTotals::default().average_price_per_gpu_hour(), None);
    }
}
