//! What a contract makes of one billing month: the invoice's charge lines (usage, reservations,
//! commitment true-up) in a fixed order, one per unit price in force, each rounded to the cent
//! once, and their sum.

use super::PriceClass;
use super::price_lines::{PriceLine, SecondsAtPrice, price_lines};
use super::terms::Contract;
use crate::invoice::quantity_hours;
use crate::money::{round_to_cents, unit_price_shown, usage_amount};
use crate::period::{BillingPeriod, Tz};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Rated usage of one (SKU, price class) in the month: GPU-seconds at each list price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedUsage {
    pub sku: String,
    pub class: PriceClass,
    pub at_prices: SecondsAtPrice,
}

/// What a charge line bills. The order of the variants is the order of lines within a SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChargeKind {
    Usage,
    Reservation,
    CommitmentTrueUp,
}

impl ChargeKind {
    /// Stable code used in storage and on the wire.
    pub fn code(self) -> &'static str {
        match self {
            ChargeKind::Usage => "usage",
            ChargeKind::Reservation => "reservation",
            ChargeKind::CommitmentTrueUp => "commitment_true_up",
        }
    }

    /// The kind of a stored [`ChargeKind::code`]; `None` for any other text.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Usage, Self::Reservation, Self::CommitmentTrueUp]
            .into_iter()
            .find(|kind| kind.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeLine {
    pub kind: ChargeKind,
    /// `None` on the commitment true-up, which belongs to no SKU.
    pub sku: Option<String>,
    /// The usage's class; [`PriceClass::Reserved`] on a reservation line; `None` on the true-up.
    pub class: Option<PriceClass>,
    /// Usage: GPU-seconds used at `unit_price`. Reservation: GPU-seconds reserved in the month
    /// at `unit_price`. True-up: zero.
    pub gpu_seconds: Decimal,
    /// `gpu_seconds` in GPU-hours, rounded half-even to 6 places for display only.
    pub quantity_gpu_hours: Decimal,
    /// EUR per GPU-hour in force for the line (`price_lines`); on a true-up, its amount.
    pub unit_price: Decimal,
    /// Full precision: what the line is rounded from.
    pub exact_amount: Decimal,
    /// `exact_amount` rounded half-even to the cent.
    pub amount: Decimal,
}

/// The month's charges under a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthCharges {
    pub period: BillingPeriod,
    /// Sorted by SKU; within a SKU usage (on-demand, spot, reserved) then the reservation; the
    /// commitment true-up last.
    pub lines: Vec<ChargeLine>,
    /// Sum of the lines' rounded amounts, in cents; at least the minimum commitment.
    pub total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthError {
    #[error("SKU `{sku}`, class {class}: usage totals must not be negative")]
    NegativeUsage { sku: String, class: PriceClass },
    /// Pricing it at zero would give it away; billing it would contradict what was booked for it.
    #[error("SKU `{sku}`: reserved usage in {period}, which no reservation term of the SKU covers")]
    ReservedUsageOutsideTerm { sku: String, period: BillingPeriod },
    #[error(
        "SKU `{sku}`: {used_gpu_seconds} reserved GPU-seconds used, more than the {reserved_gpu_seconds} reserved this month"
    )]
    ReservedUsageExceedsReservation {
        sku: String,
        used_gpu_seconds: Decimal,
        reserved_gpu_seconds: Decimal,
    },
}

/// The charge lines of `period`, a month of the tenant's `time_zone`, and their total.
///
/// Entries of `usage` with the same (SKU, class) are added together. A (SKU, class)'s usage lines
/// are its [`price_lines`], so the invoice agrees with what the aggregator booked; the
/// reservations of a SKU make one line per reserved price. Usage without GPU-seconds, and
/// reservations whose term misses the month, give no line.
pub fn charges_for_month(
    period: BillingPeriod,
    time_zone: Tz,
    contract: &Contract,
    usage: impl IntoIterator<Item = RatedUsage>,
) -> Result<MonthCharges, MonthError> {
    let mut usage_at_prices: BTreeMap<(String, PriceClass), SecondsAtPrice> = BTreeMap::new();
    for item in usage {
        if item
            .at_prices
            .values()
            .any(|seconds| *seconds < Decimal::ZERO)
        {
            return Err(MonthError::NegativeUsage {
                sku: item.sku,
                class: item.class,
            });
        }
        let at_prices = usage_at_prices.entry((item.sku, item.class)).or_default();
        for (price, seconds) in item.at_prices {
            *at_prices.entry(price).or_default() += seconds;
        }
    }

    let reserved = reserved_by_sku(period, time_zone, contract);
    check_reserved_usage(
        period,
        contract,
        usage_at_prices
            .iter()
            .map(|((sku, class), at_prices)| (sku.as_str(), *class, at_prices.values().sum())),
        &reserved,
    )?;

    let mut lines: Vec<ChargeLine> = Vec::new();
    for ((sku, class), at_prices) in &usage_at_prices {
        for priced in price_lines(contract, sku, *class, at_prices) {
            lines.push(line(ChargeKind::Usage, Some(sku), Some(*class), &priced));
        }
    }
    for (sku, reserved_lines) in reserved_lines(period, time_zone, contract) {
        for priced in &reserved_lines {
            lines.push(line(
                ChargeKind::Reservation,
                Some(sku),
                Some(PriceClass::Reserved),
                priced,
            ));
        }
    }
    // Within a key, descending unit price, as `price_lines` gives them.
    lines.sort_by(|a, b| {
        (&a.sku, a.kind, a.class, std::cmp::Reverse(a.unit_price)).cmp(&(
            &b.sku,
            b.kind,
            b.class,
            std::cmp::Reverse(b.unit_price),
        ))
    });

    let charges: Decimal = lines.iter().map(|line| line.amount).sum();
    // The commitment is in whole cents and so is every rounded line: the shortfall is exact.
    let shortfall = contract.minimum_monthly_commitment() - charges;
    if shortfall > Decimal::ZERO {
        lines.push(ChargeLine {
            kind: ChargeKind::CommitmentTrueUp,
            sku: None,
            class: None,
            gpu_seconds: Decimal::ZERO,
            quantity_gpu_hours: quantity_hours(Decimal::ZERO),
            unit_price: unit_price_shown(shortfall),
            exact_amount: shortfall,
            amount: round_to_cents(shortfall),
        });
    }
    // Already in cents; rounding only gives an empty month its two places, "0.00".
    let total = round_to_cents(lines.iter().map(|line| line.amount).sum());
    Ok(MonthCharges {
        period,
        lines,
        total,
    })
}

/// The reservation lines of `period` per SKU: the GPU-seconds reserved at each reserved price,
/// over the reservations whose term overlaps the month, in price order.
pub(crate) fn reserved_lines(
    period: BillingPeriod,
    time_zone: Tz,
    contract: &Contract,
) -> BTreeMap<&str, Vec<PriceLine>> {
    let mut at_prices: BTreeMap<&str, SecondsAtPrice> = BTreeMap::new();
    for reservation in contract.reservations() {
        let gpu_seconds = reservation.reserved_gpu_seconds(period, time_zone);
        if gpu_seconds > Decimal::ZERO {
            *at_prices
                .entry(reservation.sku.as_str())
                .or_default()
                .entry(reservation.price_per_gpu_hour)
                .or_default() += gpu_seconds;
        }
    }
    at_prices
        .into_iter()
        .map(|(sku, prices)| {
            let lines = prices
                .into_iter()
                .map(|(price, seconds)| PriceLine::new(seconds, unit_price_shown(price)))
                .collect();
            (sku, lines)
        })
        .collect()
}

/// (reserved GPU-seconds, exact amount) per SKU in `period`, a month of `time_zone`, over the
/// reservations whose term overlaps it; a SKU none of whose terms overlaps the month is absent.
pub(crate) fn reserved_by_sku(
    period: BillingPeriod,
    time_zone: Tz,
    contract: &Contract,
) -> BTreeMap<&str, (Decimal, Decimal)> {
    let mut reserved: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for reservation in contract.reservations() {
        let gpu_seconds = reservation.reserved_gpu_seconds(period, time_zone);
        if gpu_seconds > Decimal::ZERO {
            let entry = reserved.entry(reservation.sku.as_str()).or_default();
            entry.0 += gpu_seconds;
            entry.1 += reservation.amount(period, time_zone);
        }
    }
    reserved
}

/// Reserved-class usage of a reserved SKU must fall inside a term that covers the month and
/// within the GPU-seconds reserved: the scheduler labels anything beyond as on-demand.
///
/// `used` gives the month's GPU-seconds per (SKU, class), one item per pair; `reserved` is
/// [`reserved_by_sku`] of the month.
pub(crate) fn check_reserved_usage<'a>(
    period: BillingPeriod,
    contract: &Contract,
    used: impl IntoIterator<Item = (&'a str, PriceClass, Decimal)>,
    reserved: &BTreeMap<&str, (Decimal, Decimal)>,
) -> Result<(), MonthError> {
    for (sku, class, used_gpu_seconds) in used {
        if class != PriceClass::Reserved || used_gpu_seconds.is_zero() || !contract.reserves(sku) {
            continue;
        }
        let Some((reserved_gpu_seconds, _)) = reserved.get(sku) else {
            return Err(MonthError::ReservedUsageOutsideTerm {
                sku: sku.to_owned(),
                period,
            });
        };
        if used_gpu_seconds > *reserved_gpu_seconds {
            return Err(MonthError::ReservedUsageExceedsReservation {
                sku: sku.to_owned(),
                used_gpu_seconds,
                reserved_gpu_seconds: *reserved_gpu_seconds,
            });
        }
    }
    Ok(())
}

fn line(
    kind: ChargeKind,
    sku: Option<&str>,
    class: Option<PriceClass>,
    priced: &PriceLine,
) -> ChargeLine {
    ChargeLine {
        kind,
        sku: sku.map(str::to_owned),
        class,
        gpu_seconds: priced.gpu_seconds,
        quantity_gpu_hours: quantity_hours(priced.gpu_seconds),
        unit_price: priced.unit_price,
        exact_amount: usage_amount(priced.gpu_seconds, priced.unit_price),
        amount: priced.amount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::reservation::tests::reservation;
    use crate::contract::terms::ContractTerms;
    use crate::contract::tiers::TierSchedule;
    use crate::money::SECONDS_PER_HOUR;
    use proptest::prelude::*;
    use rust_decimal::dec;

    const H100: &str = "H100-SXM5-80GB";
    const L40S: &str = "L40S-48GB";

    fn november() -> BillingPeriod {
        "2026-11".parse().unwrap()
    }

    fn hours(hours: Decimal) -> Decimal {
        hours * SECONDS_PER_HOUR
    }

    /// `gpu_seconds` at the one list price that makes `list_amount`.
    fn rated(
        sku: &str,
        class: PriceClass,
        gpu_seconds: Decimal,
        list_amount: Decimal,
    ) -> RatedUsage {
        let at_prices = if gpu_seconds.is_zero() {
            SecondsAtPrice::new()
        } else {
            SecondsAtPrice::from([(list_amount * SECONDS_PER_HOUR / gpu_seconds, gpu_seconds)])
        };
        RatedUsage {
            sku: sku.into(),
            class,
            at_prices,
        }
    }

    fn rated_at(sku: &str, class: PriceClass, gpu_seconds: Decimal, price: Decimal) -> RatedUsage {
        RatedUsage {
            sku: sku.into(),
            class,
            at_prices: SecondsAtPrice::from([(price, gpu_seconds)]),
        }
    }

    /// One line as `kind SKU class: GPU-seconds s = GPU-hours h at unit price, exact amount →
    /// rounded amount`.
    fn render(line: &ChargeLine) -> String {
        format!(
            "{} {} {}: {} s = {} h at {}, {} → {}",
            line.kind.code(),
            line.sku.as_deref().unwrap_or("-"),
            line.class.map_or("-", PriceClass::code),
            line.gpu_seconds.normalize(),
            line.quantity_gpu_hours,
            line.unit_price,
            line.exact_amount.normalize(),
            line.amount,
        )
    }

    fn worked_example_contract() -> Contract {
        Contract::new(ContractTerms {
            // 5 % off every SKU, except L40S, whose own 12 % replaces it.
            discount_percent_all_skus: Some(dec!(5)),
            discount_percent_by_sku: BTreeMap::from([(L40S.to_owned(), dec!(12))]),
            // H100: first 1,000 h at list, next 9,000 h at −10 %, beyond at −20 %.
            tiers_by_sku: BTreeMap::from([(
                H100.to_owned(),
                TierSchedule::graduated([
                    (dec!(0), dec!(0)),
                    (dec!(1000), dec!(10)),
                    (dec!(10000), dec!(20)),
                ])
                .unwrap(),
            )]),
            // 4 H100 at 1.80 per GPU-hour from 16 November for six months.
            reservations: vec![reservation(
                H100,
                4,
                dec!(1.80),
                "2026-11-16T00:00:00Z",
                "2027-05-16T00:00:00Z",
            )],
            minimum_monthly_commitment: Some(dec!(6000.00)),
        })
        .unwrap()
    }

    #[test]
    fn worked_example() {
        let usage = [
            // H100 on-demand: 700 h at 2.49 until the price change, then 500 h at 2.19.
            RatedUsage {
                sku: H100.into(),
                class: PriceClass::OnDemand,
                at_prices: SecondsAtPrice::from([
                    (dec!(2.49), hours(dec!(700))),
                    (dec!(2.19), hours(dec!(500))),
                ]),
            },
            // H100 spot: 100 h at a spot list price of 1.20 = 120.00.
            rated(H100, PriceClass::Spot, hours(dec!(100)), dec!(120.00)),
            // H100 on the reservation: 1,000 of the 1,440 GPU-hours reserved.
            rated(H100, PriceClass::Reserved, hours(dec!(1000)), dec!(2490.00)),
            // L40S on-demand: 300 h at 0.99 = 297.00.
            rated(L40S, PriceClass::OnDemand, hours(dec!(300)), dec!(297.00)),
        ];
        let month =
            charges_for_month(november(), Tz::UTC, &worked_example_contract(), usage).unwrap();
        let lines: Vec<String> = month.lines.iter().map(render).collect();
        assert_eq!(
            lines,
            [
                // 1,200 h: 1,000 h in the first band (list), 200 h in the second (−10 %), all
                // less 5 %. Which hours came at which list price is not known once summed, so
                // each price takes each band in proportion: 700/1,200 at 2.49, 500/1,200 at 2.19.
                // 583.33… h × 2.49 × 0.95 = 583.33… × 2.3655 = 1,379.875 → 1,379.88
                "usage H100-SXM5-80GB on_demand: 2100000 s = 583.333333 h at 2.3655, 1379.875 → 1379.88",
                // 116.66… h × 2.49 × 0.90 × 0.95 = 116.66… × 2.12895 = 248.3775 → 248.38
                "usage H100-SXM5-80GB on_demand: 420000 s = 116.666667 h at 2.12895, 248.3775 → 248.38",
                // 416.66… h × 2.19 × 0.95 = 416.66… × 2.0805 = 866.875 → 866.88
                "usage H100-SXM5-80GB on_demand: 1500000 s = 416.666667 h at 2.0805, 866.875 → 866.88",
                // 83.33… h × 2.19 × 0.90 × 0.95 = 83.33… × 1.87245 = 156.0375 → 156.04
                // (The four add up to 2,651.165 unrounded, the amount of one unsplit line,
                // which rounded to 2,651.16; rounded apiece they make 2,651.18.)
                "usage H100-SXM5-80GB on_demand: 300000 s = 83.333333 h at 1.87245, 156.0375 → 156.04",
                // Spot: the discount, no tiers: 1.20 × 0.95 = 1.14; 100 h = 114.00.
                "usage H100-SXM5-80GB spot: 360000 s = 100.000000 h at 1.14, 114 → 114.00",
                // Paid by the reservation: shown, at zero.
                "usage H100-SXM5-80GB reserved: 3600000 s = 1000.000000 h at 0.00, 0 → 0.00",
                // 4 GPUs × 360 h (16–30 November) × 1.80 = 2,592.00, used or not.
                "reservation H100-SXM5-80GB reserved: 5184000 s = 1440.000000 h at 1.80, 2592 → 2592.00",
                // The SKU's 12 % replaces the 5 %: 0.99 × 0.88 = 0.8712; 300 h = 261.36.
                "usage L40S-48GB on_demand: 1080000 s = 300.000000 h at 0.8712, 261.36 → 261.36",
                // Charges 2,651.18 + 114.00 + 0.00 + 2,592.00 + 261.36 = 5,618.54;
                // commitment 6,000.00 − 5,618.54 = 381.46.
                "commitment_true_up - -: 0 s = 0.000000 h at 381.46, 381.46 → 381.46",
            ]
        );
        assert_eq!(month.total.to_string(), "6000.00");
    }

    #[test]
    fn a_met_commitment_adds_no_line() {
        let contract = Contract::new(ContractTerms {
            minimum_monthly_commitment: Some(dec!(249.00)),
            ..ContractTerms::default()
        })
        .unwrap();
        let exactly = charges_for_month(
            november(),
            Tz::UTC,
            &contract,
            [rated(
                H100,
                PriceClass::OnDemand,
                hours(dec!(100)),
                dec!(249),
            )],
        )
        .unwrap();
        assert_eq!(exactly.lines.len(), 1);
        assert_eq!(exactly.total, dec!(249.00));
        // One cent short.
        let short = charges_for_month(
            november(),
            Tz::UTC,
            &contract,
            [rated(
                H100,
                PriceClass::OnDemand,
                hours(dec!(100)),
                dec!(248.99),
            )],
        )
        .unwrap();
        assert_eq!(short.lines[1].kind, ChargeKind::CommitmentTrueUp);
        assert_eq!(short.lines[1].amount, dec!(0.01));
        assert_eq!(short.total, dec!(249.00));
    }

    #[test]
    fn a_month_without_usage_is_the_commitment_and_the_reservations() {
        let contract = Contract::new(ContractTerms {
            reservations: vec![reservation(
                H100,
                2,
                dec!(1.5),
                "2026-01-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
            )],
            minimum_monthly_commitment: Some(dec!(5000)),
            ..ContractTerms::default()
        })
        .unwrap();
        let month = charges_for_month(november(), Tz::UTC, &contract, []).unwrap();
        let lines: Vec<String> = month.lines.iter().map(render).collect();
        assert_eq!(
            lines,
            [
                // 2 GPUs × 720 h × 1.50 = 2,160.00
                "reservation H100-SXM5-80GB reserved: 5184000 s = 1440.000000 h at 1.50, 2160 → 2160.00",
                // 5,000.00 − 2,160.00
                "commitment_true_up - -: 0 s = 0.000000 h at 2840.00, 2840 → 2840.00",
            ]
        );
        assert_eq!(month.total, dec!(5000.00));
        let nothing = charges_for_month(november(), Tz::UTC, &Contract::default(), []).unwrap();
        assert!(nothing.lines.is_empty());
        assert_eq!(nothing.total.to_string(), "0.00");
    }

    #[test]
    fn reservations_of_a_sku_make_a_line_per_price_prorated_to_the_second() {
        let contract = Contract::new(ContractTerms {
            reservations: vec![
                // Ends 10 November 09:30:15: 811,815 s × 1 GPU × 1.80 / 3600 = 405.9075
                reservation(
                    H100,
                    1,
                    dec!(1.80),
                    "2026-10-01T00:00:00Z",
                    "2026-11-10T09:30:15Z",
                ),
                // Starts 20 November 12:00: 10.5 days = 252 h × 2 GPUs × 1.75 = 882.00
                reservation(
                    H100,
                    2,
                    dec!(1.75),
                    "2026-11-20T12:00:00Z",
                    "2027-11-20T12:00:00Z",
                ),
                // Over before November: no line, no GPU-seconds.
                reservation(
                    L40S,
                    8,
                    dec!(0.6),
                    "2026-01-01T00:00:00Z",
                    "2026-11-01T00:00:00Z",
                ),
            ],
            ..ContractTerms::default()
        })
        .unwrap();
        let month = charges_for_month(november(), Tz::UTC, &contract, []).unwrap();
        let lines: Vec<String> = month.lines.iter().map(render).collect();
        assert_eq!(
            lines,
            [
                // 811,815 GPU-seconds at 1.80 = 405.9075 → 405.91
                "reservation H100-SXM5-80GB reserved: 811815 s = 225.504167 h at 1.80, 405.9075 → 405.91",
                // 2 × 907,200 GPU-seconds at 1.75 = 882.00
                "reservation H100-SXM5-80GB reserved: 1814400 s = 504.000000 h at 1.75, 882 → 882.00",
            ]
        );
        assert_eq!(month.total, dec!(1287.91));
    }

    #[test]
    fn reserved_usage_must_fit_a_term_covering_the_month() {
        let contract = Contract::new(ContractTerms {
            reservations: vec![reservation(
                H100,
                4,
                dec!(1.80),
                "2026-11-16T00:00:00Z",
                "2027-05-16T00:00:00Z",
            )],
            ..ContractTerms::default()
        })
        .unwrap();
        // All 1,440 reserved GPU-hours used: fine.
        let full = charges_for_month(
            november(),
            Tz::UTC,
            &contract,
            [rated(
                H100,
                PriceClass::Reserved,
                hours(dec!(1440)),
                dec!(3585.6),
            )],
        )
        .unwrap();
        assert_eq!(full.total, dec!(2592.00));
        // One second more than reserved.
        assert_eq!(
            charges_for_month(
                november(),
                Tz::UTC,
                &contract,
                [rated(
                    H100,
                    PriceClass::Reserved,
                    hours(dec!(1440)) + dec!(1),
                    dec!(3585.6)
                )],
            ),
            Err(MonthError::ReservedUsageExceedsReservation {
                sku: H100.into(),
                used_gpu_seconds: dec!(5184001),
                reserved_gpu_seconds: dec!(5184000),
            })
        );
        // October: the SKU is reserved, but not then.
        let october = "2026-10".parse().unwrap();
        assert_eq!(
            charges_for_month(
                october,
                Tz::UTC,
                &contract,
                [rated(
                    H100,
                    PriceClass::Reserved,
                    hours(dec!(1)),
                    dec!(2.49)
                )],
            ),
            Err(MonthError::ReservedUsageOutsideTerm {
                sku: H100.into(),
                period: october
            })
        );
    }

    #[test]
    fn reserved_usage_of_an_unreserved_sku_is_billed() {
        let contract = Contract::new(ContractTerms {
            discount_percent_all_skus: Some(dec!(10)),
            ..ContractTerms::default()
        })
        .unwrap();
        let month = charges_for_month(
            november(),
            Tz::UTC,
            &contract,
            [rated(
                L40S,
                PriceClass::Reserved,
                hours(dec!(10)),
                dec!(9.90),
            )],
        )
        .unwrap();
        // 9.90 × 0.90
        assert_eq!(month.lines[0].amount, dec!(8.91));
    }

    #[test]
    fn entries_of_one_sku_and_class_add_up_and_empty_ones_give_no_line() {
        let month = charges_for_month(
            november(),
            Tz::UTC,
            &Contract::default(),
            [
                rated_at(H100, PriceClass::OnDemand, dec!(10), dec!(2.49)),
                rated_at(H100, PriceClass::OnDemand, dec!(3590), dec!(2.49)),
                rated(H100, PriceClass::Spot, dec!(0), dec!(0)),
            ],
        )
        .unwrap();
        assert_eq!(month.lines.len(), 1);
        assert_eq!(month.lines[0].gpu_seconds, dec!(3600));
        assert_eq!(month.lines[0].amount, dec!(2.49));
    }

    #[test]
    fn a_line_is_rounded_once_half_even() {
        // 20 s at 0.99 = 0.0055 → 0.01; 18 s at 0.25 = 0.00125 → 0.00
        let month = charges_for_month(
            november(),
            Tz::UTC,
            &Contract::default(),
            [
                rated_at(L40S, PriceClass::OnDemand, dec!(20), dec!(0.99)),
                rated_at(L40S, PriceClass::Spot, dec!(18), dec!(0.25)),
            ],
        )
        .unwrap();
        assert_eq!(month.lines[0].amount.to_string(), "0.01");
        assert_eq!(month.lines[1].amount.to_string(), "0.00");
        assert_eq!(month.lines[1].quantity_gpu_hours.to_string(), "0.005000");
        assert_eq!(month.total.to_string(), "0.01");
    }

    #[test]
    fn negative_usage_is_refused() {
        assert_eq!(
            charges_for_month(
                november(),
                Tz::UTC,
                &Contract::default(),
                [rated(H100, PriceClass::Spot, dec!(-1), dec!(0))],
            ),
            Err(MonthError::NegativeUsage {
                sku: H100.into(),
                class: PriceClass::Spot
            })
        );
    }

    fn any_usage() -> impl Strategy<Value = Vec<RatedUsage>> {
        proptest::collection::vec(
            (
                prop_oneof![Just(H100), Just(L40S), Just("A100-80GB")],
                prop_oneof![Just(PriceClass::OnDemand), Just(PriceClass::Spot)],
                0i64..3_000_000,
                1i64..10_000_000,
            ),
            0..12,
        )
        .prop_map(|items| {
            // Thousandths of a GPU-hour at prices with up to 6 places: exact list amounts, so
            // their sums do not depend on the order they are added in.
            items
                .into_iter()
                .map(|(sku, class, milli_hours, price_micros)| {
                    let used = Decimal::new(milli_hours, 3);
                    rated(
                        sku,
                        class,
                        hours(used),
                        used * Decimal::new(price_micros, 6),
                    )
                })
                .collect()
        })
    }

    proptest! {
        /// The lines do not depend on the order usage is given in; the total is the sum of the
        /// rounded lines and never below the commitment; a key's usage lines are its price lines,
        /// as the aggregator books them.
        #[test]
        fn month_charges_are_deterministic_and_add_up(
            usage in any_usage().prop_flat_map(|usage| {
                let shuffled = Just(usage.clone()).prop_shuffle();
                (Just(usage), shuffled)
            }),
            commitment_cents in 0i64..2_000_000,
        ) {
            let (usage, shuffled) = usage;
            let mut terms = worked_example_contract().terms().clone();
            terms.minimum_monthly_commitment = Some(Decimal::new(commitment_cents, 2));
            let contract = Contract::new(terms).unwrap();
            let month = charges_for_month(november(),Tz::UTC, &contract, usage.clone()).unwrap();
            prop_assert_eq!(&month, &charges_for_month(november(),Tz::UTC, &contract, shuffled).unwrap());

            prop_assert_eq!(month.total, month.lines.iter().map(|line| line.amount).sum::<Decimal>());
            prop_assert_eq!(month.total.scale(), 2);
            prop_assert!(month.total >= contract.minimum_monthly_commitment());
            for line in &month.lines {
                prop_assert_eq!(line.amount, round_to_cents(line.exact_amount));
                prop_assert!(line.amount >= Decimal::ZERO);
            }
            let mut at_prices: BTreeMap<(String, PriceClass), SecondsAtPrice> = BTreeMap::new();
            for item in &usage {
                for (price, seconds) in &item.at_prices {
                    *at_prices.entry((item.sku.clone(), item.class)).or_default().entry(*price).or_default() += *seconds;
                }
            }
            for ((sku, class), at_prices) in &at_prices {
                let lines: Vec<(Decimal, Decimal, Decimal)> = month
                    .lines
                    .iter()
                    .filter(|line| line.kind == ChargeKind::Usage && line.sku.as_deref() == Some(sku) && line.class == Some(*class))
                    .map(|line| (line.gpu_seconds, line.unit_price, line.amount))
                    .collect();
                let expected: Vec<(Decimal, Decimal, Decimal)> = price_lines(&contract, sku, *class, at_prices)
                    .into_iter()
                    .map(|line| (line.gpu_seconds, line.unit_price, line.amount))
                    .collect();
                prop_assert_eq!(lines, expected, "the usage lines of a key are its price lines, as booked");
            }
            let keys: Vec<_> = month.lines.iter().map(|line| (line.sku.is_none(), line.sku.clone(), line.kind, line.class)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            prop_assert_eq!(keys, sorted);
        }
    }
}
