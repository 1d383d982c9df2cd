//! The worked example of `docs/worked-example.md`, built from a contract and rated usage as the
//! services would, and checked against the invoice printed in the document.

use super::tests::reservation;
use super::*;
use crate::contract::{ContractTerms, SecondsAtPrice, TierSchedule, lines_amount, price_lines};
use crate::journal::{CreditSource, JournalTransaction, TransactionKind};
use crate::money::SECONDS_PER_HOUR;
use crate::vat::vat_treatment;
use rust_decimal::dec;

/// The document, relative to this file (`services/domain/src/billing/`).
const DOCUMENT: &str = include_str!("../../../../docs/worked-example.md");

const TENANT: &str = "mistral-lab";
const H100: &str = "H100-SXM5-80GB";
const L40S: &str = "L40S-48GB";

/// List prices per GPU-hour: on-demand, spot, reserved.
fn list_price(sku: &str, class: PriceClass) -> Decimal {
    match (sku, class) {
        (H100, PriceClass::OnDemand) => dec!(2.49),
        (H100, PriceClass::Spot) => dec!(1.25),
        (H100, PriceClass::Reserved) => dec!(1.89),
        (_, PriceClass::OnDemand) => dec!(0.99),
        (_, PriceClass::Spot) => dec!(0.49),
        (_, PriceClass::Reserved) => dec!(0.75),
    }
}

fn contract() -> Contract {
    Contract::new(ContractTerms {
        discount_percent_all_skus: Some(dec!(5)),
        discount_percent_by_sku: BTreeMap::from([(L40S.to_owned(), dec!(12))]),
        tiers_by_sku: BTreeMap::from([(
            H100.to_owned(),
            TierSchedule::graduated([
                (dec!(0), dec!(0)),
                (dec!(1000), dec!(10)),
                (dec!(10000), dec!(20)),
            ])
            .unwrap(),
        )]),
        reservations: vec![reservation(
            H100,
            8,
            dec!(1.89),
            "2026-11-01T00:00:00Z",
            "2027-11-01T00:00:00Z",
        )],
        minimum_monthly_commitment: Some(dec!(10000.00)),
    })
    .unwrap()
}

/// What the aggregator books for `gpu_hours` of (SKU, class) in a month, all at one list price.
fn booked(contract: &Contract, sku: &str, class: PriceClass, gpu_hours: Decimal) -> BookedUsage {
    let gpu_seconds = gpu_hours * SECONDS_PER_HOUR;
    let at_prices = SecondsAtPrice::from([(list_price(sku, class), gpu_seconds)]);
    let lines = price_lines(contract, sku, class, &at_prices);
    BookedUsage {
        sku: sku.into(),
        class,
        gpu_seconds,
        amount: lines_amount(&lines),
        lines,
    }
}

fn october() -> BillingPeriod {
    "2026-10".parse().unwrap()
}

fn november() -> BillingPeriod {
    "2026-11".parse().unwrap()
}

/// October as it was invoiced, and October and November as the journal holds them when November
/// is invoiced.
fn example() -> (ComposedInvoice, ServicePeriod, ServicePeriod) {
    let contract = contract();
    let october_on_time = vec![
        booked(&contract, H100, PriceClass::OnDemand, dec!(6000)),
        booked(&contract, L40S, PriceClass::OnDemand, dec!(800.1)),
    ];
    let october_invoice = compose_invoice(
        october(),
        Tz::UTC,
        &contract,
        &ServicePeriod {
            period: october(),
            booked_usage: october_on_time,
            billed: vec![],
            frozen_commitment: None,
        },
        &[],
        vat_treatment("FR", None).unwrap(),
        Decimal::ZERO,
    )
    .unwrap();
    let october_now = ServicePeriod {
        period: october(),
        // 37.3 h of L40S arrived after October was invoiced.
        booked_usage: vec![
            booked(&contract, H100, PriceClass::OnDemand, dec!(6000)),
            booked(&contract, L40S, PriceClass::OnDemand, dec!(837.4)),
        ],
        billed: october_invoice
            .lines
            .iter()
            .map(ComposedLine::to_billed_line)
            .collect(),
        frozen_commitment: Some(october_invoice.commitment),
    };
    let november_now = ServicePeriod {
        period: november(),
        booked_usage: vec![
            booked(&contract, H100, PriceClass::OnDemand, dec!(10262.5)),
            booked(&contract, H100, PriceClass::Spot, dec!(400)),
            booked(&contract, H100, PriceClass::Reserved, dec!(5000)),
            booked(&contract, L40S, PriceClass::OnDemand, dec!(1234.5)),
        ],
        billed: vec![],
        frozen_commitment: None,
    };
    (october_invoice, october_now, november_now)
}

fn november_invoice() -> ComposedInvoice {
    let (_, october_now, november_now) = example();
    compose_invoice(
        november(),
        Tz::UTC,
        &contract(),
        &november_now,
        &[october_now],
        vat_treatment("FR", None).unwrap(),
        dec!(500.00),
    )
    .unwrap()
}

/// The text between the invoice markers of the document, without the code fence around it.
fn printed_invoice() -> String {
    let begin = "<!-- invoice:begin -->";
    let end = "<!-- invoice:end -->";
    let start = DOCUMENT.find(begin).expect("begin marker") + begin.len();
    let stop = DOCUMENT.find(end).expect("end marker");
    let block = DOCUMENT[start..stop].trim();
    let block = block
        .strip_prefix("```text")
        .and_then(|block| block.strip_suffix("```"))
        .expect("a ```text fence between the markers");
    block.trim_start_matches('\n').to_owned()
}

#[test]
fn the_document_shows_the_invoice_as_rendered() {
    let rendered = november_invoice().render_text();
    assert_eq!(
        printed_invoice(),
        rendered,
        "docs/worked-example.md is out of date; the invoice renders as:\n{rendered}"
    );
}

#[test]
fn october_as_invoiced_and_as_booked_since() {
    let (october_invoice, october_now, _) = example();
    let billed: Vec<(String, String)> = october_invoice
        .lines
        .iter()
        .map(|line| (line.description.clone(), line.amount.to_string()))
        .collect();
    assert_eq!(
        billed,
        [
            // The first 1,000 h at list less 5 %, the next 5,000 h 10 % less: 13,010.25 as one
            // line before lines were split per price, the same split.
            (
                "H100-SXM5-80GB, on-demand, 1000.000000 GPU-h at 2.3655".to_owned(),
                "2365.50".to_owned()
            ),
            (
                "H100-SXM5-80GB, on-demand, 5000.000000 GPU-h at 2.12895".to_owned(),
                "10644.75".to_owned()
            ),
            (
                "L40S-48GB, on-demand, 800.100000 GPU-h at 0.8712".to_owned(),
                "697.05".to_owned()
            ),
        ]
    );
    // 13,707.30 is above the 10,000.00 commitment: no true-up in October.
    assert_eq!(october_invoice.vat.net_total, dec!(13707.30));
    assert_eq!(october_now.frozen_commitment, Some(dec!(10000.00)));
    assert_eq!(october_now.booked_usage[1].amount, dec!(729.54));
}

#[test]
fn key_figures() {
    let invoice = november_invoice();
    let amounts: Vec<(&str, String)> = invoice
        .lines
        .iter()
        .map(|line| (line.description.as_str(), line.amount.to_string()))
        .collect();
    assert_eq!(
        amounts,
        [
            // 10,262.5 h in three bands: 22,022.80 as one line before lines were split per
            // price (2,365.50 + 19,160.55 + 496.755 unrounded), 22,022.81 split: the third
            // band's 496.755 rounds to 496.76 on its own line.
            (
                "H100-SXM5-80GB, on-demand, 1000.000000 GPU-h at 2.3655",
                "2365.50".to_owned()
            ),
            (
                "H100-SXM5-80GB, on-demand, 9000.000000 GPU-h at 2.12895",
                "19160.55".to_owned()
            ),
            (
                "H100-SXM5-80GB, on-demand, 262.500000 GPU-h at 1.8924",
                "496.76".to_owned()
            ),
            (
                "H100-SXM5-80GB, spot, 400.000000 GPU-h at 1.1875",
                "475.00".to_owned()
            ),
            (
                "H100-SXM5-80GB, reserved, 5000.000000 GPU-h at 0.00",
                "0.00".to_owned()
            ),
            (
                "Reservation H100-SXM5-80GB, 5760.000000 GPU-h reserved at 1.89",
                "10886.40".to_owned()
            ),
            (
                "L40S-48GB, on-demand, 1234.500000 GPU-h at 0.8712",
                "1075.50".to_owned()
            ),
            (
                "Adjustment for 2026-10: L40S-48GB, on-demand, 37.300000 GPU-h at 0.8712",
                "32.49".to_owned()
            ),
        ]
    );
    assert_eq!(invoice.lines[7].adjustment_of, Some(october()));
    assert_eq!(invoice.commitment, dec!(10000.00));
    assert_eq!(invoice.vat.net_total.to_string(), "34492.20");
    assert_eq!(invoice.vat.vat_total.to_string(), "6898.44");
    assert_eq!(invoice.vat.total.to_string(), "41390.64");
    assert_eq!(invoice.credit.credit_used.to_string(), "500.00");
    assert_eq!(invoice.credit.amount_still_due.to_string(), "40890.64");
    assert_eq!(invoice.credit.new_balance.to_string(), "0.00");

    let finalized = JournalTransaction::invoice(TENANT, &invoice).unwrap();
    let entries: Vec<(&str, String)> = finalized
        .entries()
        .iter()
        .map(|entry| (entry.account.as_str(), entry.amount.to_string()))
        .collect();
    assert_eq!(
        entries,
        [
            ("411.mistral-lab", "41390.64".to_owned()),
            ("4181.mistral-lab", "-23605.80".to_owned()),
            ("706.H100-SXM5-80GB", "-10886.40".to_owned()),
            ("44571", "-6898.44".to_owned()),
        ]
    );
    let credit_use = JournalTransaction::credit_use(TENANT, invoice.credit.credit_used).unwrap();
    let entries: Vec<(&str, String)> = credit_use
        .entries()
        .iter()
        .map(|entry| (entry.account.as_str(), entry.amount.to_string()))
        .collect();
    assert_eq!(
        entries,
        [
            ("4191.mistral-lab", "500.00".to_owned()),
            ("411.mistral-lab", "-500.00".to_owned()),
        ]
    );
    // The 500.00 the tenant bought beforehand, and what a credit note would book.
    let bought = JournalTransaction::credit_grant(TENANT, dec!(500.00), CreditSource::Bought);
    assert!(bought.is_ok());
    let voided = finalized.reversal(TransactionKind::CreditNote, "credit note");
    assert_eq!(voided.entries()[0].amount.to_string(), "-41390.64");
}
