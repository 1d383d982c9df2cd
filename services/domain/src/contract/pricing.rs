//! Pricing one (SKU, price class)'s running month totals under a contract, and the delta the
//! aggregator books when those totals move. The rules are in the [`crate::contract`] module doc.

use super::terms::Contract;
use super::tiers::{TierKind, TierSchedule};
use super::{PriceClass, UsageTotals};
use crate::money::SECONDS_PER_HOUR;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places a priced amount keeps (half-even). Fixed so that booked deltas, and sums of
/// them, are exact: see "Precision and rounding" in the module doc.
pub const PRICED_AMOUNT_PLACES: u32 = 18;

/// What the contract makes of a (SKU, class)'s month totals, to [`PRICED_AMOUNT_PLACES`].
///
/// Depends on the totals only, never on the order or grouping of the usage behind them, so
/// pricing running totals and booking differences gives the same result as pricing the month at
/// once.
pub fn priced_amount(
    contract: &Contract,
    sku: &str,
    class: PriceClass,
    totals: UsageTotals,
) -> Decimal {
    if class == PriceClass::Reserved && contract.reserves(sku) {
        // Paid by the reservation line.
        return Decimal::ZERO;
    }
    let share = share_of_list_charged(contract, sku, class, totals.gpu_seconds);
    (totals.list_amount * share)
        .round_dp_with_strategy(PRICED_AMOUNT_PLACES, RoundingStrategy::MidpointNearestEven)
}

/// What the aggregator books when a (SKU, class)'s running totals reach `new_totals`, having
/// booked `already_booked` for the same month before: the priced amount less what is booked.
/// Negative when the new totals cost less, e.g. after crossing into a deeper volume tier.
pub fn delta_to_book(
    contract: &Contract,
    sku: &str,
    class: PriceClass,
    already_booked: Decimal,
    new_totals: UsageTotals,
) -> Decimal {
    priced_amount(contract, sku, class, new_totals) - already_booked
}

/// The fraction of the list amount charged, in [0, 1]: tier share × (1 − discount).
///
/// Computed as one division of exact products,
/// `Σ band seconds × (100 − band discount) × (100 − discount) / (seconds × 100 × 100)`, so the only
/// rounding is the division's 28th digit, and whole band hours at round discounts give an exact
/// share.
fn share_of_list_charged(
    contract: &Contract,
    sku: &str,
    class: PriceClass,
    gpu_seconds: Decimal,
) -> Decimal {
    let kept_after_discount = Decimal::ONE_HUNDRED - contract.discount_percent(sku);
    let tiers = match class {
        PriceClass::OnDemand => contract.tiers(sku),
        // Spot, and reserved usage of a SKU nothing reserves: the discount only.
        PriceClass::Spot | PriceClass::Reserved => None,
    };
    let Some(tiers) = tiers else {
        return kept_after_discount / Decimal::ONE_HUNDRED;
    };
    if gpu_seconds <= Decimal::ZERO {
        // No hours to spread over bands: the rate at 0 h, the first band's.
        let kept_after_tier = Decimal::ONE_HUNDRED - tiers.discount_at_gpu_seconds(Decimal::ZERO);
        return kept_after_tier * kept_after_discount / PERCENT_OF_PERCENT;
    }
    tier_percent_seconds(tiers, gpu_seconds) * kept_after_discount
        / (gpu_seconds * PERCENT_OF_PERCENT)
}

/// 100 % × 100 %: the denominator of a share given as two percentages.
const PERCENT_OF_PERCENT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// `Σ seconds in band × (100 − band discount %)`: the month's seconds weighted by the percentage
/// of the list price each is charged at. Divided by `seconds × 100` it is the tier share of the
/// list amount; multiplied by the average price per second it is the tiered amount.
fn tier_percent_seconds(tiers: &TierSchedule, gpu_seconds: Decimal) -> Decimal {
    let bands = tiers.bands();
    match tiers.kind() {
        TierKind::Graduated => {
            let band_ends = bands
                .iter()
                .skip(1)
                .map(|next| Some(next.from_hours * SECONDS_PER_HOUR))
                .chain([None]);
            bands
                .iter()
                .zip(band_ends)
                .map(|(band, end_seconds)| {
                    let start_seconds = band.from_hours * SECONDS_PER_HOUR;
                    let reached = end_seconds.map_or(gpu_seconds, |end| gpu_seconds.min(end));
                    let in_band = (reached - start_seconds).max(Decimal::ZERO);
                    in_band * (Decimal::ONE_HUNDRED - band.discount_percent)
                })
                .sum()
        }
        TierKind::Volume => {
            gpu_seconds * (Decimal::ONE_HUNDRED - tiers.discount_at_gpu_seconds(gpu_seconds))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::reservation::tests::reservation;
    use crate::contract::terms::ContractTerms;
    use crate::money::{round_to_cents, usage_amount};
    use proptest::prelude::*;
    use rust_decimal::dec;
    use std::collections::BTreeMap;

    const H100: &str = "H100-SXM5-80GB";

    fn hours(hours: Decimal) -> Decimal {
        hours * SECONDS_PER_HOUR
    }

    /// `hours` of usage at one list price all month.
    fn usage(hours_used: Decimal, price: Decimal) -> UsageTotals {
        UsageTotals::new(hours(hours_used), hours_used * price)
    }

    fn with_tiers(schedule: TierSchedule, discount_all: Option<Decimal>) -> Contract {
        Contract::new(ContractTerms {
            discount_percent_all_skus: discount_all,
            tiers_by_sku: BTreeMap::from([(H100.to_owned(), schedule)]),
            ..ContractTerms::default()
        })
        .unwrap()
    }

    /// First 1,000 h at list, next 9,000 h at −10 %, beyond at −20 %.
    fn graduated() -> TierSchedule {
        TierSchedule::graduated([
            (dec!(0), dec!(0)),
            (dec!(1000), dec!(10)),
            (dec!(10000), dec!(20)),
        ])
        .unwrap()
    }

    /// Under 1,000 h at list, 1,000 h or more all at −10 %, 10,000 h or more all at −20 %.
    fn volume() -> TierSchedule {
        TierSchedule::volume([
            (dec!(0), dec!(0)),
            (dec!(1000), dec!(10)),
            (dec!(10000), dec!(20)),
        ])
        .unwrap()
    }

    fn price(contract: &Contract, class: PriceClass, totals: UsageTotals) -> Decimal {
        priced_amount(contract, H100, class, totals)
    }

    #[test]
    fn no_terms_price_at_list() {
        let totals = UsageTotals::new(dec!(4321.5), dec!(2.9893125));
        for class in PriceClass::ALL {
            assert_eq!(price(&Contract::default(), class, totals), dec!(2.9893125));
        }
    }

    #[test]
    fn discounts_take_their_percentage_off_the_list_amount() {
        let with_discount = |all: Option<Decimal>, own: Option<Decimal>| {
            Contract::new(ContractTerms {
                discount_percent_all_skus: all,
                discount_percent_by_sku: own
                    .map(|percent| BTreeMap::from([(H100.to_owned(), percent)]))
                    .unwrap_or_default(),
                ..ContractTerms::default()
            })
            .unwrap()
        };
        let totals = usage(dec!(100), dec!(2.49)); // list 249.00
        let priced = |contract: &Contract| price(contract, PriceClass::OnDemand, totals);
        // 249.00 × 0.95
        assert_eq!(priced(&with_discount(Some(dec!(5)), None)), dec!(236.55));
        // The SKU's 12 % replaces the 5 %: 249.00 × 0.88, not × 0.83 nor × 0.95 × 0.88.
        assert_eq!(
            priced(&with_discount(Some(dec!(5)), Some(dec!(12)))),
            dec!(219.12)
        );
        assert_eq!(
            priced(&with_discount(Some(dec!(5)), Some(dec!(0)))),
            dec!(249)
        );
        assert_eq!(priced(&with_discount(None, Some(dec!(100)))), dec!(0));
        // 249.00 × 0.8765 = 218.2485, kept at full precision; the invoice line rounds it.
        assert_eq!(
            priced(&with_discount(None, Some(dec!(12.35)))),
            dec!(218.2485)
        );
    }

    #[test]
    fn graduated_tiers_below_at_and_across_band_boundaries() {
        let contract = with_tiers(graduated(), None);
        let priced =
            |hours_used| price(&contract, PriceClass::OnDemand, usage(hours_used, dec!(2)));
        // 999 h all in the first band: 999 × 2.00
        assert_eq!(priced(dec!(999)), dec!(1998));
        // Exactly 1,000 h: still all at list.
        assert_eq!(priced(dec!(1000)), dec!(2000));
        // 1,000 h + 1 s: the last second at −10 %: 2,000 + 2.00 / 3600 × 0.9
        let one_second_more = UsageTotals::new(
            hours(dec!(1000)) + dec!(1),
            dec!(2000) + dec!(2) / dec!(3600),
        );
        assert_eq!(
            price(&contract, PriceClass::OnDemand, one_second_more),
            dec!(2000.0005)
        );
        // 1,200 h: 1,000 × 2.00 + 200 × 2.00 × 0.9 = 2,000 + 360
        assert_eq!(priced(dec!(1200)), dec!(2360));
        // Exactly 10,000 h: 2,000 + 9,000 × 1.80
        assert_eq!(priced(dec!(10000)), dec!(18200));
        // 12,000 h: 2,000 + 16,200 + 2,000 × 2.00 × 0.8
        assert_eq!(priced(dec!(12000)), dec!(21400));
        // Half an hour: 1,800 s at list.
        assert_eq!(priced(dec!(0.5)), dec!(1));
    }

    #[test]
    fn volume_tiers_below_at_and_across_band_boundaries() {
        let contract = with_tiers(volume(), None);
        let priced =
            |hours_used| price(&contract, PriceClass::OnDemand, usage(hours_used, dec!(2)));
        assert_eq!(priced(dec!(999)), dec!(1998));
        // 999 h 59 min 59 s: still at list.
        let just_below = UsageTotals::new(
            hours(dec!(1000)) - dec!(1),
            dec!(2000) - dec!(2) / dec!(3600),
        );
        assert_eq!(
            round_to_cents(price(&contract, PriceClass::OnDemand, just_below)),
            dec!(2000.00)
        );
        // Exactly 1,000 h: all of them at −10 %, 2,000 × 0.9: cheaper than 999 h 59 min 59 s.
        assert_eq!(priced(dec!(1000)), dec!(1800));
        assert_eq!(priced(dec!(1200)), dec!(2160));
        assert_eq!(priced(dec!(9999)), dec!(17998.2));
        assert_eq!(priced(dec!(10000)), dec!(16000));
        assert_eq!(priced(dec!(12000)), dec!(19200));
    }

    #[test]
    fn a_single_band_schedule_is_a_flat_discount() {
        for kind in [TierKind::Graduated, TierKind::Volume] {
            let schedule = TierSchedule::new(kind, [(dec!(0), dec!(15))]).unwrap();
            let totals = usage(dec!(1234.5), dec!(2.49));
            assert_eq!(
                price(&with_tiers(schedule, None), PriceClass::OnDemand, totals),
                totals.list_amount * dec!(0.85)
            );
        }
    }

    #[test]
    fn graduated_bands_use_the_months_average_price() {
        // 700 h at 2.49 then 500 h at 2.19 after a price change: list 1,743 + 1,095 = 2,838.00,
        // average 2,838 / 1,200 = 2.365 per GPU-hour.
        let totals = UsageTotals::new(
            hours(dec!(1200)),
            usage_amount(hours(dec!(700)), dec!(2.49)) + usage_amount(hours(dec!(500)), dec!(2.19)),
        );
        assert_eq!(totals.average_price_per_gpu_hour(), Some(dec!(2.365)));
        // 1,000 × 2.365 + 200 × 2.365 × 0.9 = 2,365 + 425.70
        assert_eq!(
            price(&with_tiers(graduated(), None), PriceClass::OnDemand, totals),
            dec!(2790.70)
        );
        // The same totals reached with the price change the other way round price the same.
        let reversed = UsageTotals::new(
            hours(dec!(1200)),
            usage_amount(hours(dec!(500)), dec!(2.19)) + usage_amount(hours(dec!(700)), dec!(2.49)),
        );
        assert_eq!(
            price(
                &with_tiers(graduated(), None),
                PriceClass::OnDemand,
                reversed
            ),
            dec!(2790.70)
        );
    }

    #[test]
    fn tiers_and_the_discount_multiply() {
        // 1,200 h at 2.00 graduated = 2,360.00; then 5 % off: 2,242.00
        let contract = with_tiers(graduated(), Some(dec!(5)));
        assert_eq!(
            price(&contract, PriceClass::OnDemand, usage(dec!(1200), dec!(2))),
            dec!(2242)
        );
        // Volume 1,200 h: 2,400 × 0.9 × 0.95
        let contract = with_tiers(volume(), Some(dec!(5)));
        assert_eq!(
            price(&contract, PriceClass::OnDemand, usage(dec!(1200), dec!(2))),
            dec!(2052)
        );
    }

    #[test]
    fn spot_gets_the_discount_but_not_the_tiers() {
        let contract = with_tiers(graduated(), Some(dec!(5)));
        // 1,200 h of spot at 1.20: 1,440 × 0.95, no band at −10 %.
        assert_eq!(
            price(&contract, PriceClass::Spot, usage(dec!(1200), dec!(1.2))),
            dec!(1368)
        );
    }

    #[test]
    fn reserved_usage_is_free_only_on_a_reserved_sku() {
        let mut terms = ContractTerms {
            discount_percent_all_skus: Some(dec!(5)),
            tiers_by_sku: BTreeMap::from([(H100.to_owned(), graduated())]),
            ..ContractTerms::default()
        };
        let totals = usage(dec!(1200), dec!(2));
        // Nothing reserved: billed like spot, 2,400 × 0.95.
        let unreserved = Contract::new(terms.clone()).unwrap();
        assert_eq!(price(&unreserved, PriceClass::Reserved, totals), dec!(2280));
        terms.reservations = vec![reservation(
            H100,
            4,
            dec!(1.8),
            "2026-11-16T00:00:00Z",
            "2027-05-16T00:00:00Z",
        )];
        let reserved = Contract::new(terms).unwrap();
        assert_eq!(price(&reserved, PriceClass::Reserved, totals), dec!(0));
        // The reservation changes nothing for other classes or SKUs.
        assert_eq!(price(&reserved, PriceClass::OnDemand, totals), dec!(2242));
        assert_eq!(
            priced_amount(&reserved, "L40S-48GB", PriceClass::Reserved, totals),
            dec!(2280)
        );
    }

    #[test]
    fn no_usage_costs_nothing() {
        for contract in [
            Contract::default(),
            with_tiers(graduated(), Some(dec!(5))),
            with_tiers(volume(), None),
        ] {
            for class in PriceClass::ALL {
                assert_eq!(price(&contract, class, UsageTotals::default()), dec!(0));
            }
        }
    }

    #[test]
    fn priced_amounts_keep_18_places() {
        // 10 s at 2.49: 0.006916666… list; graduated first band at list, 5 % off.
        let totals = UsageTotals::new(dec!(10), usage_amount(dec!(10), dec!(2.49)));
        let priced = price(
            &with_tiers(graduated(), Some(dec!(5))),
            PriceClass::OnDemand,
            totals,
        );
        assert_eq!(priced, dec!(0.006570833333333333));
        assert_eq!(priced.scale(), PRICED_AMOUNT_PLACES);
    }

    #[test]
    fn crossing_a_volume_boundary_books_a_negative_delta() {
        let contract = with_tiers(volume(), None);
        let booked = delta_to_book(
            &contract,
            H100,
            PriceClass::OnDemand,
            dec!(0),
            usage(dec!(999), dec!(2)),
        );
        assert_eq!(booked, dec!(1998));
        // One more hour reaches 1,000 h: the month is now 1,800.00, 198.00 less than booked.
        let delta = delta_to_book(
            &contract,
            H100,
            PriceClass::OnDemand,
            booked,
            usage(dec!(1000), dec!(2)),
        );
        assert_eq!(delta, dec!(-198));
        // Graduated tiers only add: the 1,000th hour at list, the next at 1.80.
        let contract = with_tiers(graduated(), None);
        assert_eq!(
            delta_to_book(
                &contract,
                H100,
                PriceClass::OnDemand,
                dec!(1998),
                usage(dec!(1000), dec!(2))
            ),
            dec!(2)
        );
        assert_eq!(
            delta_to_book(
                &contract,
                H100,
                PriceClass::OnDemand,
                dec!(2000),
                usage(dec!(1001), dec!(2))
            ),
            dec!(1.8)
        );
    }

    // ---- property tests ----

    fn percent() -> impl Strategy<Value = Decimal> {
        // 0.00 % to 100.00 %, with the ends well represented.
        prop_oneof![
            1 => Just(dec!(0)),
            1 => Just(dec!(100)),
            8 => (0i64..=10_000).prop_map(|basis_points| Decimal::new(basis_points, 2)),
        ]
    }

    fn tier_schedule(kind: TierKind) -> impl Strategy<Value = TierSchedule> {
        (
            percent(),
            proptest::collection::vec((1i64..3_000_000, percent()), 0..5),
        )
            .prop_map(move |(first, later)| {
                // Band starts in thousandths of an hour, strictly increasing from 0.
                let mut from_milli_hours = 0;
                let mut bands = vec![(dec!(0), first)];
                for (gap, discount) in later {
                    from_milli_hours += gap;
                    bands.push((Decimal::new(from_milli_hours, 3), discount));
                }
                TierSchedule::new(kind, bands).unwrap()
            })
    }

    fn any_contract() -> impl Strategy<Value = Contract> {
        (
            proptest::option::of(percent()),
            proptest::option::of(percent()),
            proptest::option::of(prop_oneof![
                tier_schedule(TierKind::Graduated),
                tier_schedule(TierKind::Volume)
            ]),
            any::<bool>(),
        )
            .prop_map(|(all, own, tiers, reserves)| {
                Contract::new(ContractTerms {
                    discount_percent_all_skus: all,
                    discount_percent_by_sku: own
                        .map(|percent| BTreeMap::from([(H100.to_owned(), percent)]))
                        .unwrap_or_default(),
                    tiers_by_sku: tiers
                        .map(|schedule| BTreeMap::from([(H100.to_owned(), schedule)]))
                        .unwrap_or_default(),
                    reservations: if reserves {
                        vec![reservation(
                            H100,
                            2,
                            dec!(1.8),
                            "2026-11-01T00:00:00Z",
                            "2027-11-01T00:00:00Z",
                        )]
                    } else {
                        vec![]
                    },
                    ..ContractTerms::default()
                })
                .unwrap()
            })
    }

    fn any_class() -> impl Strategy<Value = PriceClass> {
        prop_oneof![
            Just(PriceClass::OnDemand),
            Just(PriceClass::Spot),
            Just(PriceClass::Reserved)
        ]
    }

    /// Usage increments in thousandths of a GPU-hour (3.6 s) at prices with up to 6 places, so
    /// list amounts are exact and the totals are the same whatever order they are added in.
    fn exact_increments() -> impl Strategy<Value = Vec<UsageTotals>> {
        proptest::collection::vec((0i64..3_000_000, 1i64..10_000_000), 1..24).prop_map(|items| {
            items
                .into_iter()
                .map(|(milli_hours, price_micros)| {
                    let hours_used = Decimal::new(milli_hours, 3);
                    UsageTotals::new(
                        hours(hours_used),
                        hours_used * Decimal::new(price_micros, 6),
                    )
                })
                .collect()
        })
    }

    /// Books `increments` in batches ending where `batch_ends` says (the last always ends one),
    /// the way the aggregator does, and returns the sum of the booked deltas.
    fn book_in_batches(
        contract: &Contract,
        class: PriceClass,
        increments: &[UsageTotals],
        batch_ends: &[bool],
    ) -> Decimal {
        let mut running = UsageTotals::default();
        let mut booked = Decimal::ZERO;
        for (index, increment) in increments.iter().enumerate() {
            running += *increment;
            let last = index + 1 == increments.len();
            if last || batch_ends.get(index).copied().unwrap_or(false) {
                booked += delta_to_book(contract, H100, class, booked, running);
            }
        }
        booked
    }

    proptest! {
        /// Any batching of the usage, in any order, books deltas that add up to exactly the price
        /// of the month's final totals, hence to the same amount to the cent.
        #[test]
        fn booked_deltas_add_up_to_the_price_of_the_final_totals(
            contract in any_contract(),
            class in any_class(),
            (increments, reordered) in exact_increments().prop_flat_map(|increments| {
                let reordered = Just(increments.clone()).prop_shuffle();
                (Just(increments), reordered)
            }),
            batch_ends in proptest::collection::vec(any::<bool>(), 24),
            other_batch_ends in proptest::collection::vec(any::<bool>(), 24),
        ) {
            let final_totals: UsageTotals = increments.iter().copied().sum();
            let at_once = priced_amount(&contract, H100, class, final_totals);
            let booked = book_in_batches(&contract, class, &increments, &batch_ends);
            let booked_reordered = book_in_batches(&contract, class, &reordered, &other_batch_ends);
            let one_by_one = book_in_batches(&contract, class, &reordered, &[true; 24]);
            prop_assert_eq!(booked, at_once);
            prop_assert_eq!(booked_reordered, at_once);
            prop_assert_eq!(one_by_one, at_once);
            prop_assert_eq!(round_to_cents(booked_reordered), round_to_cents(at_once));
        }

        /// With rating's own amounts (nanosecond quantities, 28-digit list amounts) the booked
        /// deltas still add up exactly to the price of the totals they reached.
        #[test]
        fn booked_deltas_are_exact_with_full_precision_list_amounts(
            contract in any_contract(),
            class in any_class(),
            items in proptest::collection::vec((1i64..20_000_000_000_000, 1i64..10_000_000), 1..24),
            batch_ends in proptest::collection::vec(any::<bool>(), 24),
        ) {
            let increments: Vec<UsageTotals> = items
                .into_iter()
                .map(|(nanos, price_micros)| {
                    let seconds = Decimal::new(nanos, 9);
                    UsageTotals::new(seconds, usage_amount(seconds, Decimal::new(price_micros, 6)))
                })
                .collect();
            let final_totals: UsageTotals = increments.iter().copied().sum();
            let booked = book_in_batches(&contract, class, &increments, &batch_ends);
            prop_assert_eq!(booked, priced_amount(&contract, H100, class, final_totals));
        }

        /// For a fixed average price, more hours never cost less under a graduated schedule.
        #[test]
        fn graduated_pricing_is_monotone_in_hours(
            schedule in tier_schedule(TierKind::Graduated),
            discount in proptest::option::of(percent()),
            price_micros in 1i64..10_000_000,
            fewer_ms in 0i64..40_000_000_000,
            more_ms in 0i64..40_000_000_000,
        ) {
            let contract = with_tiers(schedule, discount);
            let average_price = Decimal::new(price_micros, 6);
            let totals = |ms: i64| {
                let seconds = Decimal::new(ms, 3);
                UsageTotals::new(seconds, usage_amount(seconds, average_price))
            };
            let (fewer_ms, more_ms) = (fewer_ms.min(more_ms), fewer_ms.max(more_ms));
            prop_assert!(
                price(&contract, PriceClass::OnDemand, totals(fewer_ms))
                    <= price(&contract, PriceClass::OnDemand, totals(more_ms))
            );
        }

        /// A volume tier's price never exceeds the list amount, nor goes below zero.
        #[test]
        fn volume_pricing_stays_within_zero_and_list(
            schedule in tier_schedule(TierKind::Volume),
            discount in proptest::option::of(percent()),
            milli_hours in 0i64..40_000_000,
            list_cents in 0i64..100_000_000_000,
        ) {
            let totals = UsageTotals::new(hours(Decimal::new(milli_hours, 3)), Decimal::new(list_cents, 2));
            let priced = price(&with_tiers(schedule, discount), PriceClass::OnDemand, totals);
            prop_assert!(priced <= totals.list_amount);
            prop_assert!(priced >= Decimal::ZERO);
        }

        /// Whatever the terms and class, a priced amount lies between zero and the list amount;
        /// with no terms it is the list amount.
        #[test]
        fn pricing_is_never_negative_nor_above_list(
            contract in any_contract(),
            class in any_class(),
            nanos in 0i64..200_000_000_000_000_000,
            list_scale in 0u32..=PRICED_AMOUNT_PLACES,
            list_mantissa in 0i64..i64::MAX,
        ) {
            let totals = UsageTotals::new(Decimal::new(nanos, 9), Decimal::new(list_mantissa, list_scale));
            let priced = priced_amount(&contract, H100, class, totals);
            prop_assert!(priced >= Decimal::ZERO);
            prop_assert!(priced <= totals.list_amount);
            prop_assert_eq!(priced_amount(&Contract::default(), H100, class, totals), totals.list_amount);
        }
    }
}
