//! Money arithmetic: EUR amounts are `rust_decimal::Decimal`, never floats, and are rounded only
//! where the billing rules say so, half-even to the cent.

use rust_decimal::{Decimal, RoundingStrategy};

/// Places kept by a rounded EUR amount.
pub const CENT_PLACES: u32 = 2;

/// Seconds in one GPU-hour: prices are per GPU-hour, quantities are metered in GPU-seconds.
pub const SECONDS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);

/// Rounds an amount half-even ("banker's rounding") to exactly two places, so that `1.005`
/// becomes `1.00`, `1.015` becomes `1.02` and `7` is rendered `7.00`.
///
/// Half-even is used because it is unbiased over many lines: rounding every midpoint up would
/// overcharge systematically by half a cent on a quarter of the lines that hit one.
pub fn round_to_cents(amount: Decimal) -> Decimal {
    let mut rounded =
        amount.round_dp_with_strategy(CENT_PLACES, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(CENT_PLACES);
    rounded
}

/// Amount owed for `gpu_seconds` of usage at `price_per_gpu_hour`, at full decimal precision
/// (28 significant digits). Rounding happens later, once per invoice line.
pub fn usage_amount(gpu_seconds: Decimal, price_per_gpu_hour: Decimal) -> Decimal {
    gpu_seconds * price_per_gpu_hour / SECONDS_PER_HOUR
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn rounds_midpoints_to_the_even_cent() {
        assert_eq!(round_to_cents(dec!(1.005)).to_string(), "1.00");
        assert_eq!(round_to_cents(dec!(1.015)).to_string(), "1.02");
        assert_eq!(round_to_cents(dec!(1.025)).to_string(), "1.02");
        assert_eq!(round_to_cents(dec!(-1.015)).to_string(), "-1.02");
    }

    #[test]
    fn rounds_non_midpoints_to_the_nearest_cent() {
        assert_eq!(round_to_cents(dec!(1.0049999)).to_string(), "1.00");
        assert_eq!(round_to_cents(dec!(1.0050001)).to_string(), "1.01");
    }

    #[test]
    fn always_renders_two_places() {
        assert_eq!(round_to_cents(dec!(7)).to_string(), "7.00");
        assert_eq!(round_to_cents(dec!(0.1)).to_string(), "0.10");
        assert_eq!(round_to_cents(Decimal::ZERO).to_string(), "0.00");
    }

    #[test]
    fn one_hour_costs_the_hourly_price() {
        assert_eq!(usage_amount(dec!(3600), dec!(2.49)), dec!(2.49));
    }

    #[test]
    fn one_second_keeps_full_precision() {
        // 2.49 / 3600 = 0.000691666...: kept to 28 digits, not rounded to the cent.
        let amount = usage_amount(dec!(1), dec!(2.49));
        assert!(amount > dec!(0.00069166) && amount < dec!(0.00069167));
        assert_eq!(round_to_cents(amount * dec!(3600)), dec!(2.49));
    }
}
