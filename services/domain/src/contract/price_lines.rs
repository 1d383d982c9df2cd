//! The lines one (SKU, price class)'s month of usage is invoiced in: one line per unit price in
//! force, each with its exact GPU-seconds and its amount, that product rounded half-even to the
//! cent. A customer reads each line as quantity × the tariff it was charged, never as an average.
//!
//! # Unit prices
//!
//! A unit price is a list price of the month (a price version in force for some of its seconds)
//! after the contract: `list × (100 − tier discount) × (100 − discount) / 10,000`, exact (no
//! rounding: 2.49 EUR less 5 % is 2.3655 EUR per GPU-hour).
//! - Without tiers (spot, reserved usage nothing reserves, or no schedule): one line per list
//!   price, at the list price less the discount.
//! - *Volume* tiers: the band the month's total reaches gives one discount to every second, so
//!   again one line per list price.
//! - *Graduated* tiers: each band's seconds (of the month's total) at their band's discount, so
//!   one line per band and list price. With one list price all month a band's seconds are exact.
//!   With several, which seconds fall in which band is not known once they are summed (the
//!   totals carry no order), so each list price takes each band in proportion to its share of the
//!   month's seconds: `seconds at price × band seconds / month seconds` to the nanosecond, the
//!   last band taking the remainder so that the lines add up to the seconds exactly. This is the average-price rule of
//!   the module doc of [`crate::contract`], split: before rounding, the lines add up to
//!   [`priced_amount`](super::priced_amount) of the same totals.
//! - Reserved usage of a SKU the contract reserves is paid by the reservation line: one line at
//!   unit price zero.
//!
//! Lines of equal unit price are merged; lines come in descending unit price (the list price
//! first, then the deeper bands).
//!
//! # What rounding changes
//!
//! The amount booked and invoiced for a (SKU, class) is the sum of its lines, each rounded once.
//! A month at one price is one line, rounded once, as before lines were split. Where lines are
//! split, the sum may differ from the single rounding of the unsplit amount by at most half a cent
//! per added line.

use super::terms::Contract;
use super::tiers::{TierKind, TierSchedule};
use super::{PriceClass, UsageTotals};
use crate::money::{SECONDS_PER_HOUR, round_to_cents, unit_price_shown, usage_amount};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// GPU-seconds of a month at each list price (EUR per GPU-hour) in force for them.
pub type SecondsAtPrice = BTreeMap<Decimal, Decimal>;

/// One line of a (SKU, class)'s month: GPU-seconds at one unit price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceLine {
    /// Exact GPU-seconds.
    pub gpu_seconds: Decimal,
    /// EUR per GPU-hour in force for these seconds, after the contract; exact.
    pub unit_price: Decimal,
    /// `gpu_seconds × unit_price / 3600`, rounded half-even to the cent.
    pub amount: Decimal,
}

impl PriceLine {
    /// A line of `gpu_seconds` at `unit_price`, its amount the product rounded to the cent.
    pub fn new(gpu_seconds: Decimal, unit_price: Decimal) -> Self {
        Self {
            gpu_seconds,
            unit_price,
            amount: round_to_cents(usage_amount(gpu_seconds, unit_price)),
        }
    }
}

/// The totals behind `at_prices`: GPU-seconds and list amount.
pub fn totals_of(at_prices: &SecondsAtPrice) -> UsageTotals {
    at_prices
        .iter()
        .map(|(price, seconds)| UsageTotals::new(*seconds, usage_amount(*seconds, *price)))
        .fold(UsageTotals::default(), |sum, totals| sum + totals)
}

/// The invoice lines of a (SKU, class)'s month under `contract`; see the module doc. Prices
/// without seconds give no line.
pub fn price_lines(
    contract: &Contract,
    sku: &str,
    class: PriceClass,
    at_prices: &SecondsAtPrice,
) -> Vec<PriceLine> {
    let at_prices: Vec<(Decimal, Decimal)> = at_prices
        .iter()
        .filter(|(_, seconds)| !seconds.is_zero())
        .map(|(price, seconds)| (*price, *seconds))
        .collect();
    let month_seconds: Decimal = at_prices.iter().map(|(_, seconds)| *seconds).sum();
    if month_seconds.is_zero() {
        return Vec::new();
    }
    if class == PriceClass::Reserved && contract.reserves(sku) {
        return vec![PriceLine::new(
            month_seconds,
            unit_price_shown(Decimal::ZERO),
        )];
    }
    let kept_after_discount = Decimal::ONE_HUNDRED - contract.discount_percent(sku);
    let tiers = match class {
        PriceClass::OnDemand => contract.tiers(sku),
        PriceClass::Spot | PriceClass::Reserved => None,
    };
    // (seconds, list price, percent kept by the tier) in line order.
    let pieces: Vec<(Decimal, Decimal, Decimal)> = match tiers {
        None => at_prices
            .iter()
            .map(|(price, seconds)| (*seconds, *price, Decimal::ONE_HUNDRED))
            .collect(),
        Some(tiers) if tiers.kind() == TierKind::Volume => {
            let kept = Decimal::ONE_HUNDRED - tiers.discount_at_gpu_seconds(month_seconds);
            at_prices
                .iter()
                .map(|(price, seconds)| (*seconds, *price, kept))
                .collect()
        }
        Some(tiers) => graduated_pieces(tiers, &at_prices, month_seconds),
    };
    let mut lines: Vec<PriceLine> = Vec::new();
    for (seconds, list_price, kept_after_tier) in pieces {
        if seconds.is_zero() {
            continue;
        }
        let unit_price = unit_price_shown(
            list_price * kept_after_tier * kept_after_discount / PERCENT_OF_PERCENT,
        );
        match lines.iter_mut().find(|line| line.unit_price == unit_price) {
            Some(line) => *line = PriceLine::new(line.gpu_seconds + seconds, unit_price),
            None => lines.push(PriceLine::new(seconds, unit_price)),
        }
    }
    lines.sort_by_key(|line| std::cmp::Reverse(line.unit_price));
    lines
}

/// What the lines bill: the sum of their rounded amounts.
pub fn lines_amount(lines: &[PriceLine]) -> Decimal {
    round_to_cents(lines.iter().map(|line| line.amount).sum())
}

/// Places of a share of seconds: nanoseconds.
const SECOND_PLACES: u32 = 9;

/// 100 % × 100 %: the denominator of a price kept after two percentages.
const PERCENT_OF_PERCENT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Graduated bands × list prices: each band's seconds of the month, shared among the list prices
/// in proportion to their seconds, the last band taking each price's remainder.
fn graduated_pieces(
    tiers: &TierSchedule,
    at_prices: &[(Decimal, Decimal)],
    month_seconds: Decimal,
) -> Vec<(Decimal, Decimal, Decimal)> {
    let bands = tiers.bands();
    let in_band: Vec<(Decimal, Decimal)> = bands
        .iter()
        .enumerate()
        .map(|(index, band)| {
            let start = band.from_hours * SECONDS_PER_HOUR;
            let end = bands.get(index + 1).map_or(month_seconds, |next| {
                (next.from_hours * SECONDS_PER_HOUR).min(month_seconds)
            });
            (
                (end - start).max(Decimal::ZERO),
                Decimal::ONE_HUNDRED - band.discount_percent,
            )
        })
        .filter(|(seconds, _)| !seconds.is_zero())
        .collect();
    let mut given: BTreeMap<Decimal, Decimal> = BTreeMap::new();
    let mut pieces = Vec::new();
    for (index, (band_seconds, kept)) in in_band.iter().enumerate() {
        let last = index + 1 == in_band.len();
        for (price, seconds) in at_prices {
            let share = if at_prices.len() == 1 {
                *band_seconds
            } else if last {
                seconds - given.get(price).copied().unwrap_or_default()
            } else {
                // To the nanosecond, as rating gives seconds: sums of them stay exact.
                (seconds * band_seconds / month_seconds).round_dp(SECOND_PLACES)
            };
            *given.entry(*price).or_default() += share;
            pieces.push((share, *price, *kept));
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::pricing::priced_amount;
    use crate::contract::reservation::tests::reservation;
    use crate::contract::terms::ContractTerms;
    use proptest::prelude::*;
    use rust_decimal::dec;

    const H100: &str = "H100-SXM5-80GB";

    fn hours(hours: Decimal) -> Decimal {
        hours * SECONDS_PER_HOUR
    }

    fn contract(terms: ContractTerms) -> Contract {
        Contract::new(terms).unwrap()
    }

    fn tiered(schedule: TierSchedule, discount: Option<Decimal>) -> Contract {
        contract(ContractTerms {
            discount_percent_all_skus: discount,
            tiers_by_sku: BTreeMap::from([(H100.to_owned(), schedule)]),
            ..ContractTerms::default()
        })
    }

    fn graduated() -> TierSchedule {
        TierSchedule::graduated([
            (dec!(0), dec!(0)),
            (dec!(1000), dec!(10)),
            (dec!(10000), dec!(20)),
        ])
        .unwrap()
    }

    fn at(prices: &[(Decimal, Decimal)]) -> SecondsAtPrice {
        prices
            .iter()
            .map(|(price, hours_used)| (*price, hours(*hours_used)))
            .collect()
    }

    fn shown(lines: &[PriceLine]) -> Vec<(String, String, String)> {
        lines
            .iter()
            .map(|line| {
                (
                    (line.gpu_seconds / SECONDS_PER_HOUR)
                        .normalize()
                        .to_string(),
                    line.unit_price.to_string(),
                    line.amount.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn without_terms_the_unit_price_is_the_list_price() {
        // The draft line of the issue: 599.665592 GPU-seconds at 2.49 EUR per GPU-hour.
        let lines = price_lines(
            &Contract::default(),
            H100,
            PriceClass::OnDemand,
            &SecondsAtPrice::from([(dec!(2.49), dec!(599.665592))]),
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].unit_price, dec!(2.49));
        assert_eq!(lines[0].amount.to_string(), "0.41");
    }

    #[test]
    fn a_discount_gives_the_exact_discounted_price() {
        let five_off = contract(ContractTerms {
            discount_percent_all_skus: Some(dec!(5)),
            ..ContractTerms::default()
        });
        let lines = price_lines(
            &five_off,
            H100,
            PriceClass::Spot,
            &at(&[(dec!(1.25), dec!(10))]),
        );
        assert_eq!(
            shown(&lines),
            [("10".into(), "1.1875".into(), "11.88".into())]
        );
    }

    #[test]
    fn a_price_change_in_the_month_splits_the_line() {
        let lines = price_lines(
            &Contract::default(),
            H100,
            PriceClass::OnDemand,
            &at(&[(dec!(2.49), dec!(100)), (dec!(2.19), dec!(50))]),
        );
        assert_eq!(
            shown(&lines),
            [
                ("100".into(), "2.49".into(), "249.00".into()),
                ("50".into(), "2.19".into(), "109.50".into()),
            ]
        );
    }

    #[test]
    fn graduated_bands_are_lines_of_their_own() {
        // 12,000 h: 1,000 at list, 9,000 at −10 %, 2,000 at −20 %, all less 5 %.
        let lines = price_lines(
            &tiered(graduated(), Some(dec!(5))),
            H100,
            PriceClass::OnDemand,
            &at(&[(dec!(2.49), dec!(12000))]),
        );
        assert_eq!(
            shown(&lines),
            [
                ("1000".into(), "2.3655".into(), "2365.50".into()),
                ("9000".into(), "2.12895".into(), "19160.55".into()),
                ("2000".into(), "1.8924".into(), "3784.80".into()),
            ]
        );
    }

    #[test]
    fn a_volume_tier_prices_every_hour_alike() {
        let volume = TierSchedule::volume([(dec!(0), dec!(0)), (dec!(1000), dec!(10))]).unwrap();
        let lines = price_lines(
            &tiered(volume, None),
            H100,
            PriceClass::OnDemand,
            &at(&[(dec!(2.49), dec!(1500))]),
        );
        assert_eq!(
            shown(&lines),
            [("1500".into(), "2.241".into(), "3361.50".into())]
        );
    }

    #[test]
    fn reserved_usage_of_a_reservation_is_one_line_at_zero() {
        let reserved = contract(ContractTerms {
            reservations: vec![reservation(
                H100,
                8,
                dec!(1.89),
                "2026-11-01T00:00:00Z",
                "2026-12-01T00:00:00Z",
            )],
            ..ContractTerms::default()
        });
        let lines = price_lines(
            &reserved,
            H100,
            PriceClass::Reserved,
            &at(&[(dec!(2.49), dec!(3)), (dec!(2.19), dec!(2))]),
        );
        assert_eq!(shown(&lines), [("5".into(), "0.00".into(), "0.00".into())]);
    }

    #[test]
    fn no_seconds_no_line() {
        let lines = price_lines(
            &Contract::default(),
            H100,
            PriceClass::OnDemand,
            &SecondsAtPrice::from([(dec!(2.49), Decimal::ZERO)]),
        );
        assert!(lines.is_empty());
    }

    fn any_contract() -> impl Strategy<Value = Contract> {
        (0u32..4, 0i64..=30, prop::bool::ANY).prop_map(|(kind, discount, volume)| {
            let discount = (discount > 0).then(|| Decimal::new(discount, 0));
            match kind {
                0 => contract(ContractTerms {
                    discount_percent_all_skus: discount,
                    ..ContractTerms::default()
                }),
                _ if volume => tiered(
                    TierSchedule::volume([(dec!(0), dec!(0)), (dec!(50), dec!(7.5))]).unwrap(),
                    discount,
                ),
                _ => tiered(
                    TierSchedule::graduated([
                        (dec!(0), dec!(0)),
                        (dec!(20), dec!(10)),
                        (dec!(80), dec!(12.5)),
                    ])
                    .unwrap(),
                    discount,
                ),
            }
        })
    }

    fn any_usage() -> impl Strategy<Value = SecondsAtPrice> {
        prop::collection::btree_map(
            (100i64..400).prop_map(|cents| Decimal::new(cents, 2)),
            (1i64..400_000_000_000).prop_map(|nanos| Decimal::new(nanos, 3)),
            1..4,
        )
    }

    proptest! {
        /// The lines add up to the month's seconds exactly; each amount is its product rounded;
        /// the unrounded products add up to the priced amount of the totals; the rounded sum is
        /// within half a cent per line of the priced amount rounded once.
        #[test]
        fn lines_cover_the_seconds_and_add_up_to_the_priced_amount(
            contract in any_contract(),
            usage in any_usage(),
            class in prop_oneof![Just(PriceClass::OnDemand), Just(PriceClass::Spot)],
        ) {
            let lines = price_lines(&contract, H100, class, &usage);
            let totals = totals_of(&usage);
            let seconds: Decimal = lines.iter().map(|line| line.gpu_seconds).sum();
            prop_assert_eq!(seconds, totals.gpu_seconds);
            for line in &lines {
                prop_assert_eq!(line.amount, round_to_cents(usage_amount(line.gpu_seconds, line.unit_price)));
            }
            let exact: Decimal = lines.iter().map(|line| usage_amount(line.gpu_seconds, line.unit_price)).sum();
            let priced = priced_amount(&contract, H100, class, totals);
            prop_assert!((exact - priced).abs() < dec!(0.000000001), "{} vs {}", exact, priced);
            let drift = (lines_amount(&lines) - round_to_cents(priced)).abs();
            prop_assert!(drift <= dec!(0.005) * Decimal::from(lines.len()) + dec!(0.005));
        }
    }
}
