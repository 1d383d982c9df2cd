use super::*;
use crate::contract::lines_amount;
use crate::contract::{
    ContractTerms, RatedUsage, Reservation, SecondsAtPrice, TierSchedule, charges_for_month,
    price_lines,
};
use crate::credit_note::FinalizedInvoice;
use crate::journal::{AccountId, JournalError, JournalTransaction};
use crate::money::SECONDS_PER_HOUR;
use crate::pricebook::tests::at;
use crate::vat::{OUT_OF_SCOPE_MENTION, REVERSE_CHARGE_MENTION, vat_treatment};
use proptest::prelude::*;
use rust_decimal::dec;

const H100: &str = "H100-SXM5-80GB";
const L40S: &str = "L40S-48GB";
const A100: &str = "A100-80GB";

fn period(text: &str) -> BillingPeriod {
    text.parse().unwrap()
}

fn september() -> BillingPeriod {
    period("2026-09")
}

fn october() -> BillingPeriod {
    period("2026-10")
}

fn november() -> BillingPeriod {
    period("2026-11")
}

pub(super) fn reservation(
    sku: &str,
    gpus: u32,
    price: Decimal,
    start: &str,
    end: &str,
) -> Reservation {
    Reservation {
        sku: sku.into(),
        start: at(start),
        end: at(end),
        gpus,
        price_per_gpu_hour: price,
    }
}

fn hours(hours: Decimal) -> Decimal {
    hours * SECONDS_PER_HOUR
}

fn french_vat() -> VatTreatment {
    vat_treatment("FR", None).unwrap()
}

/// The unit price `amount` makes over `gpu_hours` (zero without hours): the price of a test's
/// one-price line.
fn implied_price(gpu_hours: Decimal, amount: Decimal) -> Decimal {
    if gpu_hours.is_zero() {
        dec!(0.00)
    } else {
        crate::money::unit_price_shown(amount / gpu_hours)
    }
}

/// Usage booked as one price line of `amount` (the price it implies).
fn booked(sku: &str, class: PriceClass, gpu_hours: Decimal, amount: Decimal) -> BookedUsage {
    booked_at(
        sku,
        class,
        gpu_hours,
        implied_price(gpu_hours, amount),
        amount,
    )
}

/// Usage booked as one price line at `unit_price`.
fn booked_at(
    sku: &str,
    class: PriceClass,
    gpu_hours: Decimal,
    unit_price: Decimal,
    amount: Decimal,
) -> BookedUsage {
    BookedUsage {
        sku: sku.into(),
        class,
        gpu_seconds: hours(gpu_hours),
        amount,
        lines: vec![PriceLine {
            gpu_seconds: hours(gpu_hours),
            unit_price,
            amount,
        }],
    }
}

fn billed_usage(sku: &str, class: PriceClass, gpu_hours: Decimal, amount: Decimal) -> BilledLine {
    billed_usage_at(
        sku,
        class,
        gpu_hours,
        implied_price(gpu_hours, amount),
        amount,
    )
}

fn billed_usage_at(
    sku: &str,
    class: PriceClass,
    gpu_hours: Decimal,
    unit_price: Decimal,
    amount: Decimal,
) -> BilledLine {
    BilledLine {
        charge: ChargeKind::Usage,
        sku: Some(sku.into()),
        class: Some(class),
        unit_price: Some(unit_price),
        gpu_seconds: hours(gpu_hours),
        amount,
    }
}

fn billed_true_up(amount: Decimal) -> BilledLine {
    BilledLine {
        charge: ChargeKind::CommitmentTrueUp,
        sku: None,
        class: None,
        unit_price: None,
        gpu_seconds: Decimal::ZERO,
        amount,
    }
}

fn service(
    period: BillingPeriod,
    booked_usage: Vec<BookedUsage>,
    billed: Vec<BilledLine>,
    frozen_commitment: Option<Decimal>,
) -> ServicePeriod {
    ServicePeriod {
        period,
        booked_usage,
        billed,
        frozen_commitment,
    }
}

fn compose(
    contract: &Contract,
    current: &ServicePeriod,
    earlier: &[ServicePeriod],
) -> Result<ComposedInvoice, ComposeError> {
    compose_invoice(
        current.period,
        Tz::UTC,
        contract,
        current,
        earlier,
        french_vat(),
        Decimal::ZERO,
    )
}

/// `description: amount` per line.
fn summary(invoice: &ComposedInvoice) -> Vec<String> {
    invoice
        .lines
        .iter()
        .map(|line| format!("{}: {}", line.description, line.amount))
        .collect()
}

/// 4 H100 at 1.80 from 16 November (1,440 GPU-hours of November, 2,592.00), a 6,000.00
/// commitment, no discount.
fn reserving_contract(commitment: Decimal) -> Contract {
    Contract::new(ContractTerms {
        reservations: vec![reservation(
            H100,
            4,
            dec!(1.80),
            "2026-11-16T00:00:00Z",
            "2027-05-16T00:00:00Z",
        )],
        minimum_monthly_commitment: Some(commitment),
        ..ContractTerms::default()
    })
    .unwrap()
}

fn with_commitment(commitment: Decimal) -> Contract {
    Contract::new(ContractTerms {
        minimum_monthly_commitment: Some(commitment),
        ..ContractTerms::default()
    })
    .unwrap()
}

#[test]
fn a_first_invoice_bills_usage_then_reservations_then_the_true_up() {
    let november_usage = service(
        november(),
        vec![
            booked(L40S, PriceClass::OnDemand, dec!(100), dec!(99.00)),
            booked(H100, PriceClass::Reserved, dec!(1000), dec!(0.00)),
            booked(H100, PriceClass::Spot, dec!(10), dec!(12.50)),
            booked(H100, PriceClass::OnDemand, dec!(192), dec!(478.08)),
        ],
        vec![],
        None,
    );
    let invoice = compose(&reserving_contract(dec!(6000)), &november_usage, &[]).unwrap();
    assert_eq!(
        summary(&invoice),
        [
            "H100-SXM5-80GB, on-demand, 192.000000 GPU-h at 2.49: 478.08",
            "H100-SXM5-80GB, spot, 10.000000 GPU-h at 1.25: 12.50",
            // Paid by the reservation: shown with its hours, at zero.
            "H100-SXM5-80GB, reserved, 1000.000000 GPU-h at 0.00: 0.00",
            "Reservation H100-SXM5-80GB, 1440.000000 GPU-h reserved at 1.80: 2592.00",
            "L40S-48GB, on-demand, 100.000000 GPU-h at 0.99: 99.00",
            // 6,000.00 − (478.08 + 12.50 + 0.00 + 2,592.00 + 99.00)
            "Minimum commitment true-up: 2818.42",
        ]
    );
    assert!(invoice.lines.iter().all(|line| !line.is_adjustment()));
    assert!(
        invoice
            .lines
            .iter()
            .all(|line| line.service_period == november())
    );
    assert_eq!(invoice.commitment, dec!(6000));
    assert_eq!(invoice.vat.net_total.to_string(), "6000.00");
    assert_eq!(invoice.vat.vat_total.to_string(), "1200.00");
    assert_eq!(invoice.vat.total.to_string(), "7200.00");
}

#[test]
fn late_usage_on_an_earlier_period_is_an_adjustment_naming_it() {
    let contract = Contract::default();
    // October was invoiced with 100 h of L40S; 12.5 h more were booked on October afterwards.
    let october_usage = service(
        october(),
        vec![booked_at(
            L40S,
            PriceClass::OnDemand,
            dec!(112.5),
            dec!(0.99),
            dec!(111.38),
        )],
        vec![billed_usage(
            L40S,
            PriceClass::OnDemand,
            dec!(100),
            dec!(99.00),
        )],
        Some(dec!(0)),
    );
    let november_usage = service(
        november(),
        vec![booked(L40S, PriceClass::OnDemand, dec!(10), dec!(9.90))],
        vec![],
        None,
    );
    let invoice = compose(&contract, &november_usage, &[october_usage]).unwrap();
    assert_eq!(
        summary(&invoice),
        [
            "L40S-48GB, on-demand, 10.000000 GPU-h at 0.99: 9.90",
            // 111.38 booked − 99.00 billed: the difference of two rounded amounts.
            "Adjustment for 2026-10: L40S-48GB, on-demand, 12.500000 GPU-h at 0.99: 12.38",
        ]
    );
    let adjustment = &invoice.lines[1];
    assert_eq!(adjustment.service_period, october());
    assert_eq!(adjustment.adjustment_of, Some(october()));
    assert_eq!(adjustment.gpu_seconds, hours(dec!(12.5)));
    assert_eq!(invoice.lines[0].adjustment_of, None);
    assert_eq!(invoice.vat.net_total, dec!(22.28));
}

#[test]
fn late_usage_lowers_the_true_up_of_its_period() {
    // October: 600.00 of usage under a 1,000.00 commitment, billed with a 400.00 true-up.
    let october_with = |late_hours: Decimal, booked_amount: Decimal| {
        service(
            october(),
            vec![booked(
                H100,
                PriceClass::OnDemand,
                dec!(240) + late_hours,
                booked_amount,
            )],
            vec![
                billed_usage(H100, PriceClass::OnDemand, dec!(240), dec!(600.00)),
                billed_true_up(dec!(400.00)),
            ],
            Some(dec!(1000.00)),
        )
    };
    // The contract now commits to 5,000.00 a month: October keeps the 1,000.00 it was invoiced
    // with.
    let contract = with_commitment(dec!(5000));
    let nothing_in_november = service(november(), vec![], vec![], None);

    // 60 h late (150.00): the usage is billed and the true-up lowered by as much.
    let invoice = compose(
        &contract,
        &nothing_in_november,
        &[october_with(dec!(60), dec!(750.00))],
    )
    .unwrap();
    assert_eq!(
        summary(&invoice),
        [
            "Minimum commitment true-up: 5000.00",
            "Adjustment for 2026-10: H100-SXM5-80GB, on-demand, 60.000000 GPU-h at 2.50: 150.00",
            "Adjustment for 2026-10: Minimum commitment true-up: -150.00",
        ]
    );
    assert_eq!(invoice.lines[2].gpu_seconds, Decimal::ZERO);
    assert_eq!(invoice.lines[2].adjustment_of, Some(october()));

    // 200 h late (500.00): the true-up is gone, October now costs its usage, 1,100.00.
    let invoice = compose(
        &contract,
        &nothing_in_november,
        &[october_with(dec!(200), dec!(1100.00))],
    )
    .unwrap();
    assert_eq!(
        summary(&invoice)[1..],
        [
            "Adjustment for 2026-10: H100-SXM5-80GB, on-demand, 200.000000 GPU-h at 2.50: 500.00",
            "Adjustment for 2026-10: Minimum commitment true-up: -400.00",
        ]
    );
}

#[test]
fn reservations_of_earlier_periods_are_not_adjusted() {
    let contract = reserving_contract(dec!(0));
    // October's invoice billed a reservation the contract no longer has for October.
    let october_reservation = BilledLine {
        charge: ChargeKind::Reservation,
        sku: Some(H100.into()),
        class: Some(PriceClass::Reserved),
        unit_price: Some(dec!(1.80)),
        gpu_seconds: hours(dec!(744)),
        amount: dec!(1339.20),
    };
    let october_usage = service(october(), vec![], vec![october_reservation], Some(dec!(0)));
    let november_usage = service(november(), vec![], vec![], None);
    let invoice = compose(&contract, &november_usage, &[october_usage]).unwrap();
    assert_eq!(
        summary(&invoice),
        ["Reservation H100-SXM5-80GB, 1440.000000 GPU-h reserved at 1.80: 2592.00"]
    );
}

#[test]
fn a_voided_current_period_is_billed_in_full_again() {
    let contract = reserving_contract(dec!(3000));
    let booked_november = vec![
        booked(H100, PriceClass::Reserved, dec!(500), dec!(0.00)),
        booked(H100, PriceClass::OnDemand, dec!(10), dec!(24.90)),
    ];
    let october_usage = service(
        october(),
        vec![booked(L40S, PriceClass::Spot, dec!(20), dec!(9.80))],
        vec![billed_usage(L40S, PriceClass::Spot, dec!(10), dec!(4.90))],
        Some(dec!(0)),
    );
    let first = compose(
        &contract,
        &service(november(), booked_november.clone(), vec![], None),
        std::slice::from_ref(&october_usage),
    )
    .unwrap();
    assert_eq!(
        summary(&first),
        [
            "H100-SXM5-80GB, on-demand, 10.000000 GPU-h at 2.49: 24.90",
            "H100-SXM5-80GB, reserved, 500.000000 GPU-h at 0.00: 0.00",
            "Reservation H100-SXM5-80GB, 1440.000000 GPU-h reserved at 1.80: 2592.00",
            "Minimum commitment true-up: 383.10",
            "Adjustment for 2026-10: L40S-48GB, spot, 10.000000 GPU-h at 0.49: 4.90",
        ]
    );

    // The first November invoice stands: nothing is left to bill.
    let billed_of = |service_period: BillingPeriod| -> Vec<BilledLine> {
        first
            .lines
            .iter()
            .filter(|line| line.service_period == service_period)
            .map(ComposedLine::to_billed_line)
            .collect()
    };
    let mut october_adjusted = october_usage.clone();
    october_adjusted.billed.extend(billed_of(october()));
    let finalized_november = service(
        november(),
        booked_november.clone(),
        billed_of(november()),
        Some(first.commitment),
    );
    assert!(
        compose(
            &contract,
            &finalized_november,
            std::slice::from_ref(&october_adjusted)
        )
        .unwrap()
        .is_empty()
    );

    // Voided by a credit note: its lines, October's adjustment included, no longer count as
    // billed, so composing November again bills all of it, the reservation too.
    let voided_november = service(november(), booked_november, vec![], None);
    let again = compose(&contract, &voided_november, &[october_usage]).unwrap();
    assert_eq!(again, first);
}

#[test]
fn an_empty_month_without_terms_is_an_empty_invoice() {
    let invoice = compose(
        &Contract::default(),
        &ServicePeriod::new(november()),
        &[ServicePeriod::new(october())],
    )
    .unwrap();
    assert!(invoice.is_empty());
    assert_eq!(invoice.vat.total.to_string(), "0.00");
    assert_eq!(invoice.credit.credit_used, Decimal::ZERO);
    assert_eq!(
        JournalTransaction::invoice("t", &invoice),
        Err(JournalError::NothingToBook)
    );
}

#[test]
fn vat_follows_the_tenants_treatment_with_its_mention() {
    let november_usage = service(
        november(),
        vec![booked(H100, PriceClass::OnDemand, dec!(100), dec!(249.00))],
        vec![],
        None,
    );
    let with_vat = |country: &str, number: Option<&str>| {
        compose_invoice(
            november(),
            Tz::UTC,
            &Contract::default(),
            &november_usage,
            &[],
            vat_treatment(country, number).unwrap(),
            Decimal::ZERO,
        )
        .unwrap()
    };

    let french = with_vat("FR", None);
    assert_eq!(french.lines[0].vat_category, VatCategory::Standard);
    assert_eq!(french.lines[0].vat_rate, dec!(0.20));
    // 249.00 × 0.20
    assert_eq!(french.vat.vat_total, dec!(49.80));
    assert_eq!(french.vat.total, dec!(298.80));
    assert!(french.vat_mentions().is_empty());

    let german_business = with_vat("DE", Some("DE123456789"));
    assert_eq!(
        german_business.lines[0].vat_category,
        VatCategory::ReverseCharge
    );
    assert_eq!(german_business.vat.vat_total.to_string(), "0.00");
    assert_eq!(german_business.vat.total, dec!(249.00));
    assert_eq!(german_business.vat_mentions(), [REVERSE_CHARGE_MENTION]);
    assert!(
        german_business
            .render_text()
            .ends_with(&format!("\n\n{REVERSE_CHARGE_MENTION}\n"))
    );

    let american = with_vat("US", None);
    assert_eq!(american.lines[0].vat_category, VatCategory::OutOfScope);
    assert_eq!(american.vat.subtotals[0].category, VatCategory::OutOfScope);
    assert_eq!(american.vat.total, dec!(249.00));
    assert_eq!(american.vat_mentions(), [OUT_OF_SCOPE_MENTION]);
    assert_eq!(
        american.document_lines()[0].category.mention(),
        Some(OUT_OF_SCOPE_MENTION)
    );
}

#[test]
fn prepaid_credit_settles_the_total_including_vat() {
    let november_usage = service(
        november(),
        vec![booked(H100, PriceClass::OnDemand, dec!(100), dec!(249.00))],
        vec![],
        None,
    );
    let with_balance = |balance: Decimal| {
        compose_invoice(
            november(),
            Tz::UTC,
            &Contract::default(),
            &november_usage,
            &[],
            french_vat(),
            balance,
        )
    };
    // Total 298.80.
    let larger = with_balance(dec!(1000.00)).unwrap().credit;
    assert_eq!(
        (
            larger.credit_used,
            larger.amount_still_due,
            larger.new_balance
        ),
        (dec!(298.80), dec!(0.00), dec!(701.20))
    );
    let smaller = with_balance(dec!(100.00)).unwrap().credit;
    assert_eq!(
        (
            smaller.credit_used,
            smaller.amount_still_due,
            smaller.new_balance
        ),
        (dec!(100.00), dec!(198.80), dec!(0.00))
    );
    assert_eq!(
        with_balance(dec!(-0.01)),
        Err(ComposeError::Credit(CreditError::NegativeBalance(dec!(
            -0.01
        ))))
    );
}

#[test]
fn a_negative_total_from_a_volume_tier_crossed_late_draws_no_credit() {
    // Below 1,000 h at list, from 1,000 h all hours at −10 %.
    let contract = Contract::new(ContractTerms {
        tiers_by_sku: BTreeMap::from([(
            H100.to_owned(),
            TierSchedule::volume([(dec!(0), dec!(0)), (dec!(1000), dec!(10))]).unwrap(),
        )]),
        ..ContractTerms::default()
    })
    .unwrap();
    let booked_lines = |gpu_hours: Decimal| {
        let at_prices = SecondsAtPrice::from([(dec!(2.49), hours(gpu_hours))]);
        let lines = price_lines(&contract, H100, PriceClass::OnDemand, &at_prices);
        BookedUsage {
            sku: H100.into(),
            class: PriceClass::OnDemand,
            gpu_seconds: hours(gpu_hours),
            amount: lines_amount(&lines),
            lines,
        }
    };
    // October was invoiced at 999 h, all at list; 2 h came late and took it to 1,001 h, every
    // hour of which is now at 2.49 × 0.90 = 2.241.
    let on_time = booked_lines(dec!(999));
    assert_eq!(
        (on_time.lines[0].unit_price, on_time.amount),
        (dec!(2.49), dec!(2487.51))
    );
    let late = booked_lines(dec!(1001));
    assert_eq!(
        (late.lines[0].unit_price, late.amount),
        (dec!(2.241), dec!(2243.24))
    );
    let october_usage = service(
        october(),
        vec![late],
        vec![billed_usage_at(
            H100,
            PriceClass::OnDemand,
            dec!(999),
            dec!(2.49),
            dec!(2487.51),
        )],
        Some(dec!(0)),
    );
    let invoice = compose_invoice(
        november(),
        Tz::UTC,
        &contract,
        &ServicePeriod::new(november()),
        &[october_usage],
        french_vat(),
        dec!(500.00),
    )
    .unwrap();
    // The hours billed at list are taken back and the month's hours billed at the tier's price:
    // each line at a price in force.
    assert_eq!(
        summary(&invoice),
        [
            "Adjustment for 2026-10: H100-SXM5-80GB, on-demand, -999.000000 GPU-h at 2.49: -2487.51",
            "Adjustment for 2026-10: H100-SXM5-80GB, on-demand, 1001.000000 GPU-h at 2.241: 2243.24",
        ]
    );
    // −244.27 × 0.20 = −48.854 → −48.85
    assert_eq!(invoice.vat.vat_total, dec!(-48.85));
    assert_eq!(invoice.vat.total, dec!(-293.12));
    assert_eq!(invoice.credit.credit_used, Decimal::ZERO);
    assert_eq!(invoice.credit.amount_still_due, dec!(-293.12));
    assert_eq!(invoice.credit.new_balance, dec!(500.00));
    // The document lines keep the sign on the quantity, the unit price is the price in force.
    let document = &invoice.document_lines()[0];
    assert_eq!(document.quantity.to_string(), "-999.000000");
    assert_eq!(document.unit_price, dec!(2.49));
    assert_eq!(document.net, dec!(-2487.51));
}

/// Models a tenant in Paris whose reservation starts at 00:00 UTC on 16 November, 01:00 in Paris:
/// its November is Paris's, which ends at 23:00 UTC on the 30th, so an hour less is reserved than
/// in UTC's November.
#[test]
fn reservations_are_billed_for_the_tenants_local_month() {
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
    let compose_in = |time_zone: Tz| {
        compose_invoice(
            november(),
            time_zone,
            &contract,
            &ServicePeriod::new(november()),
            &[],
            french_vat(),
            Decimal::ZERO,
        )
        .unwrap()
    };
    let paris = compose_in(Tz::Europe__Paris);
    // 4 GPUs × 359 h × 1.80 = 2,584.80
    assert_eq!(
        summary(&paris),
        ["Reservation H100-SXM5-80GB, 1436.000000 GPU-h reserved at 1.80: 2584.80"]
    );
    assert_eq!(paris.lines[0].gpu_seconds, hours(dec!(1436)));
    // 4 GPUs × 360 h × 1.80 = 2,592.00
    assert_eq!(compose_in(Tz::UTC).lines[0].amount, dec!(2592.00));
}

#[test]
fn document_lines_show_hours_the_unit_price_in_force_and_the_net_amount() {
    let november_usage = service(
        november(),
        vec![
            // 20 s: 0.005556 h shown.
            BookedUsage {
                sku: L40S.into(),
                class: PriceClass::OnDemand,
                gpu_seconds: dec!(20),
                amount: dec!(0.01),
                lines: vec![PriceLine::new(dec!(20), dec!(0.99))],
            },
            booked(H100, PriceClass::OnDemand, dec!(3), dec!(7.47)),
        ],
        vec![],
        None,
    );
    let invoice = compose(&with_commitment(dec!(10)), &november_usage, &[]).unwrap();
    let lines: Vec<(String, String, String, String)> = invoice
        .document_lines()
        .into_iter()
        .map(|line| {
            (
                line.description,
                line.quantity.to_string(),
                line.unit_price.to_string(),
                line.net.to_string(),
            )
        })
        .collect();
    let line = |description: &str, quantity: &str, unit_price: &str, net: &str| {
        (
            description.to_owned(),
            quantity.to_owned(),
            unit_price.to_owned(),
            net.to_owned(),
        )
    };
    assert_eq!(
        lines,
        [
            line(
                "H100-SXM5-80GB, on-demand, 3.000000 GPU-h at 2.49",
                "3.000000",
                "2.49",
                "7.47"
            ),
            // The price in force, 0.99, not 0.01 / (20 / 3600) = 1.80: the amount is the
            // product rounded, and 0.0055 rounds up to 0.01.
            line(
                "L40S-48GB, on-demand, 0.005556 GPU-h at 0.99",
                "0.005556",
                "0.99",
                "0.01"
            ),
            // One true-up at its amount.
            line("Minimum commitment true-up", "1", "2.52", "2.52"),
        ]
    );
    let finalized =
        FinalizedInvoice::from_lines("INV-2026-000007".parse().unwrap(), invoice.document_lines())
            .unwrap();
    assert_eq!(finalized.vat, invoice.vat);
}

#[test]
fn malformed_inputs_are_refused() {
    let contract = Contract::default();
    let current = ServicePeriod::new(november());
    assert_eq!(
        compose_invoice(
            october(),
            Tz::UTC,
            &contract,
            &current,
            &[],
            french_vat(),
            Decimal::ZERO
        ),
        Err(ComposeError::CurrentPeriodMismatch {
            invoice: october(),
            current: november()
        })
    );
    for late in [november(), period("2026-12")] {
        assert_eq!(
            compose(&contract, &current, &[ServicePeriod::new(late)]),
            Err(ComposeError::EarlierPeriodNotBefore {
                invoice: november(),
                service: late
            })
        );
    }
    assert_eq!(
        compose(
            &contract,
            &current,
            &[
                ServicePeriod::new(october()),
                ServicePeriod::new(september()),
                ServicePeriod::new(october())
            ]
        ),
        Err(ComposeError::DuplicateServicePeriod(october()))
    );
    let with_booked = |usage: BookedUsage| service(november(), vec![usage], vec![], None);
    assert_eq!(
        compose(
            &contract,
            &with_booked(booked(L40S, PriceClass::Spot, dec!(-1), dec!(0))),
            &[]
        ),
        Err(ComposeError::NegativeBookedUsage {
            period: november(),
            sku: L40S.into(),
            class: PriceClass::Spot
        })
    );
    assert_eq!(
        compose(
            &contract,
            &with_booked(booked(L40S, PriceClass::Spot, dec!(1), dec!(0.495))),
            &[]
        ),
        Err(ComposeError::NotCents {
            period: november(),
            amount: dec!(0.495)
        })
    );
    let with_billed = |line: BilledLine| service(october(), vec![], vec![line], Some(dec!(0)));
    let mut not_cents = billed_true_up(dec!(1.001));
    assert_eq!(
        compose(&contract, &current, &[with_billed(not_cents.clone())]),
        Err(ComposeError::NotCents {
            period: october(),
            amount: dec!(1.001)
        })
    );
    not_cents.amount = dec!(1.000);
    assert!(compose(&contract, &current, &[with_billed(not_cents)]).is_ok());
    for (charge, sku, class) in [
        (ChargeKind::Usage, None, Some(PriceClass::Spot)),
        (ChargeKind::Usage, Some(L40S), None),
        (
            ChargeKind::Reservation,
            Some(H100),
            Some(PriceClass::OnDemand),
        ),
        (ChargeKind::Reservation, None, Some(PriceClass::Reserved)),
        (ChargeKind::CommitmentTrueUp, Some(H100), None),
    ] {
        let line = BilledLine {
            charge,
            sku: sku.map(str::to_owned),
            class,
            unit_price: Some(dec!(1)),
            gpu_seconds: Decimal::ZERO,
            amount: dec!(1),
        };
        assert!(
            matches!(
                compose(&contract, &current, &[with_billed(line)]),
                Err(ComposeError::MalformedBilledLine { .. })
            ),
            "{charge:?} {sku:?} {class:?}"
        );
    }
    assert_eq!(
        compose(
            &contract,
            &current,
            &[service(october(), vec![], vec![], Some(dec!(-1)))]
        ),
        Err(ComposeError::NegativeFrozenCommitment {
            period: october(),
            commitment: dec!(-1)
        })
    );
    assert!(matches!(
        compose(
            &contract,
            &current,
            &[service(october(), vec![], vec![], Some(dec!(0.001)))]
        ),
        Err(ComposeError::NotCents { .. })
    ));
}

#[test]
fn reserved_usage_of_the_current_period_must_fit_its_reservation() {
    let contract = reserving_contract(dec!(0));
    let november_reserved = |gpu_hours| {
        service(
            november(),
            vec![booked(H100, PriceClass::Reserved, gpu_hours, dec!(0))],
            vec![],
            None,
        )
    };
    assert!(compose(&contract, &november_reserved(dec!(1440)), &[]).is_ok());
    assert_eq!(
        compose(&contract, &november_reserved(dec!(1440.5)), &[]),
        Err(ComposeError::ReservedUsage(
            MonthError::ReservedUsageExceedsReservation {
                sku: H100.into(),
                used_gpu_seconds: hours(dec!(1440.5)),
                reserved_gpu_seconds: hours(dec!(1440)),
            }
        ))
    );
    // Reserved usage booked on October, before the term, is only checked when October is
    // invoiced; as an adjustment it is billed as booked.
    let october_reserved = service(
        october(),
        vec![booked(H100, PriceClass::Reserved, dec!(1), dec!(0))],
        vec![],
        Some(dec!(0)),
    );
    assert!(compose(&contract, &november_reserved(dec!(1)), &[october_reserved]).is_ok());
    let mut october_as_current = november_reserved(dec!(1));
    october_as_current.period = october();
    assert_eq!(
        compose(&contract, &october_as_current, &[]),
        Err(ComposeError::ReservedUsage(
            MonthError::ReservedUsageOutsideTerm {
                sku: H100.into(),
                period: october()
            }
        ))
    );
}

// ----- properties -----

/// Graduated tiers on H100, volume tiers on A100 (so late usage can lower a month), 5 % off
/// every SKU but L40S (12 %), 2 H100 reserved all year at 1.80, and `commitment`.
fn property_contract(commitment_cents: i64) -> Contract {
    Contract::new(ContractTerms {
        discount_percent_all_skus: Some(dec!(5)),
        discount_percent_by_sku: BTreeMap::from([(L40S.to_owned(), dec!(12))]),
        tiers_by_sku: BTreeMap::from([
            (
                H100.to_owned(),
                TierSchedule::graduated([
                    (dec!(0), dec!(0)),
                    (dec!(1000), dec!(10)),
                    (dec!(10000), dec!(20)),
                ])
                .unwrap(),
            ),
            (
                A100.to_owned(),
                TierSchedule::volume([(dec!(0), dec!(0)), (dec!(500), dec!(15))]).unwrap(),
            ),
        ]),
        reservations: vec![reservation(
            H100,
            2,
            dec!(1.80),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        )],
        minimum_monthly_commitment: Some(Decimal::new(commitment_cents, 2)),
    })
    .unwrap()
}

/// Usage of up to a few (SKU, class) pairs; reserved H100 usage stays under 700 h, within the
/// 1,344 h (February) to 1,488 h reserved in any month.
fn any_usage() -> impl Strategy<Value = Vec<RatedUsage>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(H100), Just(L40S), Just(A100)],
            prop_oneof![
                Just(PriceClass::OnDemand),
                Just(PriceClass::Spot),
                Just(PriceClass::Reserved)
            ],
            0i64..700_000,
            1i64..5_000_000,
        ),
        0..6,
    )
    .prop_map(|items| {
        items
            .into_iter()
            .map(|(sku, class, milli_hours, price_micros)| {
                // Reserved usage of a SKU nothing reserves is billed; keep it small.
                let milli_hours = if class == PriceClass::Reserved {
                    milli_hours / 10
                } else {
                    milli_hours * 2
                };
                let used = Decimal::new(milli_hours, 3);
                RatedUsage {
                    sku: sku.into(),
                    class,
                    at_prices: SecondsAtPrice::from([(Decimal::new(price_micros, 6), hours(used))]),
                }
            })
            .collect()
    })
}

/// What the aggregator books for `usage`: per (SKU, class), the price lines of its seconds at
/// each list price.
fn booked_for(contract: &Contract, usage: &[RatedUsage]) -> Vec<BookedUsage> {
    let mut at_prices: BTreeMap<(String, PriceClass), SecondsAtPrice> = BTreeMap::new();
    for item in usage {
        let key = at_prices.entry((item.sku.clone(), item.class)).or_default();
        for (price, seconds) in &item.at_prices {
            *key.entry(*price).or_default() += *seconds;
        }
    }
    at_prices
        .into_iter()
        .map(|((sku, class), at_prices)| {
            let lines = price_lines(contract, &sku, class, &at_prices);
            BookedUsage {
                amount: lines_amount(&lines),
                gpu_seconds: at_prices.values().sum(),
                sku,
                class,
                lines,
            }
        })
        .collect()
}

/// An earlier month: usage booked when it was invoiced, and usage that arrived later.
fn any_earlier_month() -> impl Strategy<Value = (Vec<RatedUsage>, Vec<RatedUsage>)> {
    (any_usage(), any_usage())
}

proptest! {
    /// The first invoice of a month has the lines and total of `charges_for_month` over the same
    /// usage when the booked amounts are the usage's price lines.
    #[test]
    fn a_first_invoice_is_the_months_charges(
        usage in any_usage(),
        commitment_cents in 0i64..2_000_000,
    ) {
        let contract = property_contract(commitment_cents);
        let current = service(november(), booked_for(&contract, &usage), vec![], None);
        let invoice = compose(&contract, &current, &[]).unwrap();
        let month = charges_for_month(november(),Tz::UTC, &contract, usage).unwrap();

        let composed: Vec<_> = invoice
            .lines
            .iter()
            .map(|line| (line.charge, line.sku.clone(), line.class, line.gpu_seconds, line.quantity_gpu_hours, line.unit_price, line.amount))
            .collect();
        let expected: Vec<_> = month
            .lines
            .iter()
            .map(|line| (line.kind, line.sku.clone(), line.class, line.gpu_seconds, line.quantity_gpu_hours, line.unit_price, line.amount))
            .collect();
        prop_assert_eq!(composed, expected);
        prop_assert_eq!(invoice.vat.net_total, month.total);
        prop_assert_eq!(invoice.commitment, contract.minimum_monthly_commitment());
        prop_assert!(invoice.lines.iter().all(|line| line.adjustment_of.is_none()));
    }

    /// With earlier months invoiced and usage booked on them later: each earlier month's billed
    /// lines plus its adjustments come to what a first invoice of the month with all its usage
    /// would be; and once every composed line is billed, composing again gives no line.
    #[test]
    fn adjustments_complete_earlier_months_and_composing_is_idempotent(
        earlier_months in proptest::collection::vec(any_earlier_month(), 0..3),
        current_usage in any_usage(),
        commitment_cents in 0i64..600_000,
        balance_cents in 0i64..1_000_000,
    ) {
        let contract = property_contract(commitment_cents);
        let months = ["2026-08", "2026-09", "2026-10"].map(period);
        let mut earlier = Vec::new();
        for (month, (on_time, late)) in months.into_iter().zip(&earlier_months) {
            // Invoiced as the current period with the usage booked by then.
            let on_time_service = service(month, booked_for(&contract, on_time), vec![], None);
            let invoiced = compose(&contract, &on_time_service, &[]).unwrap();
            let all_usage: Vec<RatedUsage> = on_time.iter().chain(late).cloned().collect();
            earlier.push(service(
                month,
                booked_for(&contract, &all_usage),
                invoiced.lines.iter().map(ComposedLine::to_billed_line).collect(),
                Some(invoiced.commitment),
            ));
        }
        let current = service(november(), booked_for(&contract, &current_usage), vec![], None);
        let invoice = compose_invoice(
            november(),
            Tz::UTC, &contract, &current, &earlier, french_vat(), Decimal::new(balance_cents, 2),
        ).unwrap();

        for service_period in &earlier {
            let month = service_period.period;
            let adjusted: Decimal = service_period.billed.iter().map(|line| line.amount).sum::<Decimal>()
                + invoice.lines.iter().filter(|line| line.adjustment_of == Some(month)).map(|line| line.amount).sum::<Decimal>();
            let index = months.iter().position(|candidate| *candidate == month).unwrap();
            let (on_time, late) = &earlier_months[index];
            let complete = charges_for_month(month,Tz::UTC, &contract, on_time.iter().chain(late).cloned()).unwrap();
            prop_assert_eq!(adjusted, complete.total);
        }
        // Regular lines first, then adjustments by service period.
        let order: Vec<Option<BillingPeriod>> = invoice.lines.iter().map(|line| line.adjustment_of).collect();
        let mut sorted = order.clone();
        sorted.sort_by_key(|adjusted| adjusted.map(|month| (1, month)).unwrap_or((0, november())));
        prop_assert_eq!(order, sorted);
        prop_assert_eq!(invoice.vat.total, invoice.credit.credit_used + invoice.credit.amount_still_due);

        // Finalize and bill every line, then compose again.
        let billed_of = |month: BillingPeriod| invoice.lines.iter().filter(move |line| line.service_period == month).map(ComposedLine::to_billed_line);
        let mut current_billed = current.clone();
        current_billed.billed.extend(billed_of(november()));
        current_billed.frozen_commitment = Some(invoice.commitment);
        let earlier_billed: Vec<ServicePeriod> = earlier
            .iter()
            .map(|service_period| {
                let mut billed = service_period.clone();
                billed.billed.extend(billed_of(service_period.period));
                billed
            })
            .collect();
        let again = compose(&contract, &current_billed, &earlier_billed).unwrap();
        prop_assert!(again.is_empty(), "{:?}", again.lines);

        // Finalization books a balanced transaction, unless every amount is zero.
        match JournalTransaction::invoice("t", &invoice) {
            Ok(transaction) => {
                let receivable: Decimal = transaction
                    .entries()
                    .iter()
                    .filter(|entry| entry.account == AccountId::customer_receivables("t"))
                    .map(|entry| entry.amount)
                    .sum();
                prop_assert_eq!(receivable, invoice.vat.total);
            }
            Err(error) => {
                prop_assert_eq!(error, JournalError::NothingToBook);
                prop_assert!(invoice.lines.iter().all(|line| line.amount.is_zero()));
            }
        }
    }
}
