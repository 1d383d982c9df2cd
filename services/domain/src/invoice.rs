//! Invoice arithmetic: from rated quantities per SKU and price to lines, subtotal, VAT and total.
//!
//! Rounding rules (the only places money is rounded):
//! 1. a line's amount is `GPU-seconds × price per GPU-hour / 3600` over the line's exact total
//!    quantity, rounded half-even to the cent;
//! 2. the subtotal is the sum of the rounded lines (exact);
//! 3. VAT is `subtotal × rate`, rounded half-even to the cent;
//! 4. the total is `subtotal + VAT` (exact).
//!
//! The displayed quantity in GPU-hours is rounded half-even to 6 places; the amount is never
//! computed from the displayed quantity.

use crate::money::{SECONDS_PER_HOUR, round_to_cents, usage_amount};
use crate::period::BillingPeriod;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Places shown for a quantity in GPU-hours.
pub const QUANTITY_PLACES: u32 = 6;

/// Rated usage of one SKU at one price within the period, as summed from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub sku: String,
    pub price_per_gpu_hour: Decimal,
    pub gpu_seconds: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub sku: String,
    pub gpu_seconds: Decimal,
    pub quantity_gpu_hours: Decimal,
    pub price_per_gpu_hour: Decimal,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftInvoice {
    pub period: BillingPeriod,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Decimal,
    pub vat_rate: Decimal,
    pub vat: Decimal,
    pub total: Decimal,
}

impl DraftInvoice {
    /// Computes an invoice from rated usage. Inputs with the same SKU and price are merged into
    /// one line; lines are ordered by SKU, then price.
    pub fn compute(
        period: BillingPeriod,
        currency: &str,
        inputs: impl IntoIterator<Item = LineInput>,
        vat_rate: Decimal,
    ) -> Self {
        let mut merged: BTreeMap<(String, Decimal), Decimal> = BTreeMap::new();
        for input in inputs {
            *merged
                .entry((input.sku, input.price_per_gpu_hour))
                .or_default() += input.gpu_seconds;
        }
        let lines: Vec<InvoiceLine> = merged
            .into_iter()
            .filter(|(_, seconds)| !seconds.is_zero())
            .map(|((sku, price), seconds)| InvoiceLine {
                sku,
                gpu_seconds: seconds,
                quantity_gpu_hours: quantity_hours(seconds),
                price_per_gpu_hour: price,
                amount: round_to_cents(usage_amount(seconds, price)),
            })
            .collect();
        let subtotal = round_to_cents(lines.iter().map(|line| line.amount).sum());
        let vat = round_to_cents(subtotal * vat_rate);
        let total = subtotal + vat;
        debug_assert_eq!(total.scale(), 2);
        Self {
            period,
            currency: currency.to_owned(),
            lines,
            subtotal,
            vat_rate,
            vat,
            total,
        }
    }
}

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
    use proptest::prelude::*;
    use rust_decimal::dec;

    fn period() -> BillingPeriod {
        "2026-11".parse().unwrap()
    }

    fn input(sku: &str, price: Decimal, seconds: Decimal) -> LineInput {
        LineInput {
            sku: sku.into(),
            price_per_gpu_hour: price,
            gpu_seconds: seconds,
        }
    }

    #[test]
    fn worked_example() {
        // 8 GPUs for 24 h of H100 at 2.49 and 2 GPUs for 10 s of L40S at 0.99.
        let invoice = DraftInvoice::compute(
            period(),
            "EUR",
            [
                input("H100-SXM5-80GB", dec!(2.49), dec!(691200)),
                input("L40S-48GB", dec!(0.99), dec!(20)),
            ],
            dec!(0.20),
        );
        assert_eq!(invoice.lines.len(), 2);
        assert_eq!(
            invoice.lines[0].quantity_gpu_hours.to_string(),
            "192.000000"
        );
        assert_eq!(invoice.lines[0].amount.to_string(), "478.08");
        // 20 s × 0.99 / 3600 = 0.0055 → half-even → 0.01
        assert_eq!(invoice.lines[1].quantity_gpu_hours.to_string(), "0.005556");
        assert_eq!(invoice.lines[1].amount.to_string(), "0.01");
        assert_eq!(invoice.subtotal.to_string(), "478.09");
        assert_eq!(invoice.vat.to_string(), "95.62"); // 95.618
        assert_eq!(invoice.total.to_string(), "573.71");
    }

    #[test]
    fn line_amount_rounds_half_even_on_the_exact_quantity() {
        // 18 s at 0.25 per hour = 0.00125 → 0.00; 162 s at 0.25 = 0.01125 → 0.01; 54 s at 1.00 = 0.015 → 0.02
        let amount = |seconds, price| {
            DraftInvoice::compute(period(), "EUR", [input("X", price, seconds)], Decimal::ZERO)
                .lines[0]
                .amount
        };
        assert_eq!(amount(dec!(18), dec!(0.25)), dec!(0.00));
        assert_eq!(amount(dec!(162), dec!(0.25)), dec!(0.01));
        assert_eq!(amount(dec!(54), dec!(1.00)), dec!(0.02));
        assert_eq!(amount(dec!(90), dec!(1.00)), dec!(0.02)); // 0.025 → 0.02
    }

    #[test]
    fn vat_rounds_half_even_on_the_subtotal() {
        // subtotal 0.125 is impossible (lines are in cents); 0.05 × 0.20 = 0.010; 0.25 × 0.1 = 0.025 → 0.02
        let invoice =
            DraftInvoice::compute(period(), "EUR", [input("X", dec!(1), dec!(900))], dec!(0.1));
        assert_eq!(invoice.subtotal, dec!(0.25));
        assert_eq!(invoice.vat, dec!(0.02));
        assert_eq!(invoice.total, dec!(0.27));
    }

    #[test]
    fn same_sku_and_price_merge_into_one_line() {
        let invoice = DraftInvoice::compute(
            period(),
            "EUR",
            [
                input("H100-SXM5-80GB", dec!(2.49), dec!(10)),
                input("H100-SXM5-80GB", dec!(2.49), dec!(3590)),
                input("H100-SXM5-80GB", dec!(2.19), dec!(3600)),
            ],
            dec!(0.20),
        );
        assert_eq!(invoice.lines.len(), 2);
        assert_eq!(invoice.lines[0].price_per_gpu_hour, dec!(2.19));
        assert_eq!(invoice.lines[1].amount, dec!(2.49));
        assert_eq!(invoice.subtotal, dec!(4.68));
    }

    #[test]
    fn no_usage_is_an_empty_zero_invoice() {
        let invoice = DraftInvoice::compute(period(), "EUR", [], dec!(0.20));
        assert!(invoice.lines.is_empty());
        assert_eq!(invoice.total.to_string(), "0.00");
    }

    proptest! {
        /// Totals are in cents, add up, and do not depend on how the ledger split the quantity.
        #[test]
        fn totals_are_consistent_and_split_independent(
            chunks in proptest::collection::vec(1u64..10_000_000_000, 1..20),
            price_cents in 1i64..100_000,
        ) {
            let price = Decimal::new(price_cents, 2);
            let inputs: Vec<LineInput> = chunks.iter().map(|ns| input("H100-SXM5-80GB", price, Decimal::new(*ns as i64, 6))).collect();
            let split = DraftInvoice::compute(period(), "EUR", inputs.clone(), dec!(0.20));
            let whole_seconds: Decimal = inputs.iter().map(|i| i.gpu_seconds).sum();
            let whole = DraftInvoice::compute(period(), "EUR", [input("H100-SXM5-80GB", price, whole_seconds)], dec!(0.20));
            prop_assert_eq!(&split, &whole);
            prop_assert_eq!(split.total, split.subtotal + split.vat);
            prop_assert_eq!(split.subtotal.scale(), 2);
            prop_assert_eq!(split.vat.scale(), 2);
            prop_assert!((split.lines[0].amount - usage_amount(whole_seconds, price)).abs() <= dec!(0.005));
        }
    }
}
