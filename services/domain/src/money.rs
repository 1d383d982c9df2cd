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

/// A unit price as it is shown and stored: exact, without trailing zeros beyond the cents
/// (`2.3655`, `2.49`, `1.80`, `0.00`).
pub fn unit_price_shown(price: Decimal) -> Decimal {
    let mut price = price.normalize();
    if price.scale() < CENT_PLACES {
        price.rescale(CENT_PLACES);
    }
    price
}

/// Amount owed for `gpu_seconds` of usage at `price_per_gpu_hour`, at full decimal precision
/// (28 significant digits). Rounding happens later, once per invoice line.
pub fn usage_amount(gpu_seconds: Decimal, price_per_gpu_hour: Decimal) -> Decimal {
    gpu_seconds * price_per_gpu_hour / SECONDS_PER_HOUR
}

/// Most digits before the decimal point of a decimal given in a request: far above any real
/// amount, well inside what `Decimal` and `NUMERIC(20, 2)` hold.
pub const MAX_INTEGER_DIGITS: usize = 15;

/// Why a decimal given as text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalTextError {
    #[error(
        "`{text}` is not a plain decimal: digits with an optional decimal point (\"500.00\"), \
         no sign, exponent, spaces or thousands separator, at most {MAX_INTEGER_DIGITS} digits before the point"
    )]
    NotPlain { text: String },
    #[error("`{text}` has more than {places} decimal places")]
    TooManyPlaces { text: String, places: u32 },
}

/// Parses a plain, non-negative decimal with at most `max_places` decimal places: `500`,
/// `500.00`, `0.5`. Refuses what `Decimal::from_str` would let through: signs, exponents
/// (`1e9`), a leading or trailing point, spaces, underscores.
pub fn parse_plain_decimal(text: &str, max_places: u32) -> Result<Decimal, DecimalTextError> {
    let not_plain = || DecimalTextError::NotPlain {
        text: text.chars().take(40).collect(),
    };
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer)
        || integer.len() > MAX_INTEGER_DIGITS
        || fraction.is_some_and(|f| !digits(f))
    {
        return Err(not_plain());
    }
    if fraction.is_some_and(|f| f.len() > max_places as usize) {
        return Err(DecimalTextError::TooManyPlaces {
            text: text.chars().take(40).collect(),
            places: max_places,
        });
    }
    text.parse::<Decimal>().map_err(|_| not_plain())
}

/// An amount as the API writes it: exactly two places, and never `-0.00`.
pub fn amount_text(amount: Decimal) -> String {
    let mut rounded = round_to_cents(amount);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    rounded.to_string()
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
    fn plain_decimals_are_digits_and_one_point_only() {
        assert_eq!(parse_plain_decimal("500.00", 2), Ok(dec!(500.00)));
        assert_eq!(parse_plain_decimal("500", 2), Ok(dec!(500)));
        assert_eq!(parse_plain_decimal("0.5", 2), Ok(dec!(0.5)));
        for refused in [
            "1e9",
            "1E3",
            "-5",
            "+5",
            " 5",
            "5 ",
            "5.",
            ".5",
            "",
            "1_000",
            "1,000.00",
            "0x10",
            "NaN",
            "1.2.3",
            "1234567890123456",
        ] {
            assert!(
                matches!(
                    parse_plain_decimal(refused, 2),
                    Err(DecimalTextError::NotPlain { .. })
                ),
                "{refused:?}"
            );
        }
        assert!(matches!(
            parse_plain_decimal("1.005", 2),
            Err(DecimalTextError::TooManyPlaces { places: 2, .. })
        ));
        assert_eq!(parse_plain_decimal("2.123456", 6), Ok(dec!(2.123456)));
    }

    #[test]
    fn amounts_are_written_with_two_places_and_no_negative_zero() {
        assert_eq!(amount_text(dec!(1000000000)), "1000000000.00");
        assert_eq!(amount_text(-Decimal::ZERO), "0.00");
        assert_eq!(amount_text(dec!(-0.001)), "0.00");
        assert_eq!(amount_text(dec!(-12.5)), "-12.50");
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
