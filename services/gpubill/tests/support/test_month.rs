//! The test month shared by the e-invoice and export tests: a French tenant at 20 % with a
//! discount and graduated tiers and late usage of an invoiced month (an adjustment), a German
//! tenant with a VAT number (reverse charge), reserved capacity and bought prepaid credit, a
//! Norwegian tenant short of its minimum commitment (a true-up), and a credit note voiding an
//! invoice.

use super::{at, book, h100_hours};
use diesel::PgConnection;
use gpubill_domain::{BillingPeriod, CreditSource, PriceClass};
use gpubill_ledger::contracts::{ContractDocument, set_contract};
use gpubill_ledger::credits::grant_credit;
use gpubill_ledger::invoicing::{Finalized, InvoiceView, finalize_invoice, void_invoice};
use rust_decimal::dec;
use uuid::Uuid;

pub fn contract(conn: &mut PgConnection, tenant: &str, json: &str) {
    let document: ContractDocument = serde_json::from_str(json).unwrap();
    set_contract(conn, tenant, &document).unwrap();
}

pub fn finalize(conn: &mut PgConnection, tenant: &str, month: &str, now: &str) -> InvoiceView {
    let period: BillingPeriod = month.parse().unwrap();
    match finalize_invoice(conn, tenant, period, "EUR", &super::seller(), at(now)).unwrap() {
        Finalized::Issued(invoice) => invoice,
        other => panic!("{tenant} {month}: {other:?}"),
    }
}

/// The month's ledger and documents: October for everyone, late October usage of mistral-lab,
/// nordic-nlp's October voided, then November. Returns the invoices and the credit note.
pub fn test_month(conn: &mut PgConnection) -> (Vec<InvoiceView>, String) {
    use PriceClass::{OnDemand, Reserved, Spot};
    contract(
        conn,
        "mistral-lab",
        r#"{"discount_percent": "5", "tiers": {"H100-SXM5-80GB": {"kind": "graduated",
            "bands": [{"from_hours": "0", "discount_percent": "0"}, {"from_hours": "100", "discount_percent": "10"}]}}}"#,
    );
    contract(
        conn,
        "helix-bio",
        r#"{"reservations": [{"sku": "H100-SXM5-80GB", "gpus": 2, "start": "2026-10-01T00:00:00+02:00",
            "end": "2027-01-01T00:00:00+01:00", "price_per_gpu_hour": "1.89"}]}"#,
    );
    contract(
        conn,
        "nordic-nlp",
        r#"{"minimum_monthly_commitment": "500.00"}"#,
    );
    grant_credit(
        conn,
        Uuid::new_v4(),
        "helix-bio",
        dec!(100.00),
        CreditSource::Bought,
        "prepaid",
    )
    .unwrap();
    book(
        conn,
        &[
            h100_hours("mistral-lab", "2026-10", OnDemand, dec!(2.49), dec!(150)),
            h100_hours("mistral-lab", "2026-10", Spot, dec!(1.25), dec!(20)),
            h100_hours("helix-bio", "2026-10", Reserved, dec!(1.89), dec!(50)),
            h100_hours(
                "helix-bio",
                "2026-10",
                OnDemand,
                dec!(2.49),
                dec!(10.123456),
            ),
            h100_hours("nordic-nlp", "2026-10", OnDemand, dec!(2.49), dec!(30)),
        ],
    );
    let october = "2026-11-05T09:00:00Z";
    let mut invoices = vec![
        finalize(conn, "mistral-lab", "2026-10", october),
        finalize(conn, "helix-bio", "2026-10", october),
        finalize(conn, "nordic-nlp", "2026-10", october),
    ];
    // Usage of October that reached the ledger after its invoice.
    book(
        conn,
        &[h100_hours(
            "mistral-lab",
            "2026-10",
            OnDemand,
            dec!(2.49),
            dec!(12.5),
        )],
    );
    let voided = invoices[2].number.clone().unwrap();
    let credit_note = void_invoice(
        conn,
        &voided,
        "erreur de tarification",
        &super::seller(),
        at("2026-11-10T09:00:00Z"),
    )
    .unwrap()
    .number;
    book(
        conn,
        &[
            h100_hours("mistral-lab", "2026-11", OnDemand, dec!(2.49), dec!(40)),
            h100_hours("helix-bio", "2026-11", Reserved, dec!(1.89), dec!(20)),
            h100_hours("nordic-nlp", "2026-11", OnDemand, dec!(2.49), dec!(40)),
        ],
    );
    let november = "2026-12-05T09:00:00Z";
    invoices.extend([
        finalize(conn, "mistral-lab", "2026-11", november),
        finalize(conn, "helix-bio", "2026-11", november),
        finalize(conn, "nordic-nlp", "2026-10", november),
        finalize(conn, "nordic-nlp", "2026-11", november),
    ]);
    (invoices, credit_note)
}
