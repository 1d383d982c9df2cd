//! How an invoice line shows its quantity. Amounts are never computed from the displayed
//! quantity: a line's amount comes from exact GPU-seconds (`contract::priced_amount`, rounded once
//! to the cent), and what an invoice contains is decided by `billing::compose_invoice`.

use crate::money::SECONDS_PER_HOUR;
use rust_decimal::{Decimal, RoundingStrategy};

/// Places shown for a quantity in GPU-hours.
pub const QUANTITY_PLACES: u32 = 6;

/// `gpu_seconds` in GPU-hours for display, rounded half-even to [`QUANTITY_PLACES`].
pub(crate) fn quantity_hours(gpu_seconds: Decimal) -> Decimal {
    let mut hours = (gpu_seconds / SECONDS_PER_HOUR)
        .round_dp_with_strategy(QUANTITY_PLACES, RoundingStrategy::MidpointNearestEven);
    hours.rescale(QUANTITY_PLACES);
    hours
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn quantities_show_six_places_rounded_half_even() {
        assert_eq!(quantity_hours(dec!(691200)).to_string(), "192.000000");
        // 20 s = 0.00555… h.
        assert_eq!(quantity_hours(dec!(20)).to_string(), "0.005556");
        // 0.0018 s = 0.0000005 h exactly: a midpoint, rounded to the even 0.000000.
        assert_eq!(quantity_hours(dec!(0.0018)).to_string(), "0.000000");
        assert_eq!(quantity_hours(dec!(0.0054)).to_string(), "0.000002");
    }
}
