//! Documents of every VAT case, rendered for the tests of the syntaxes; with
//! `EINVOICE_SAMPLES_DIR=DIR` the renderings are also written there, for the official
//! validators (`scripts/validate-einvoices.sh`).

use crate::document::{Issued, IssuedLine, Voided, compose};
use crate::identity::tests::seller;
use chrono::{TimeZone, Utc};
use gpubill_domain::{ChargeKind, VatCategory};
use gpubill_schema::api::party::{Buyer, ElectronicAddress, PostalAddress};
use rust_decimal::Decimal;
use rust_decimal::dec;

pub(crate) fn buyer(country: &str, siren: Option<&str>, vat_number: Option<&str>) -> Buyer {
    let electronic_address = match siren {
        Some(siren) => ElectronicAddress {
            scheme: "0225".into(),
            id: siren.into(),
        },
        None => ElectronicAddress {
            scheme: "EM".into(),
            id: "ap@buyer.example".into(),
        },
    };
    Buyer {
        tenant_id: "buyer".into(),
        legal_name: "Buyer & Co".into(),
        address: PostalAddress {
            line1: "1 Main street".into(),
            line2: None,
            postcode: "10115".into(),
            city: "City".into(),
            country: country.into(),
        },
        vat_number: vat_number.map(str::to_owned),
        siren: siren.map(str::to_owned),
        electronic_address,
        billing_email: "ap@buyer.example".into(),
        purchase_order: Some("PO-4711".into()),
    }
}

fn line(
    charge: ChargeKind,
    hours: Decimal,
    price: Decimal,
    amount: Decimal,
    category: VatCategory,
    rate: Decimal,
) -> IssuedLine {
    IssuedLine {
        charge,
        description: format!("H100-SXM5-80GB, on-demand, {hours} GPU-h at {price}"),
        service_period: "2026-11".parse().unwrap_or_else(|_| unreachable!()),
        gpu_seconds: hours * dec!(3600),
        unit_price: price,
        amount,
        category,
        rate,
    }
}

/// A French invoice at 20 %, with a discounted line, a zero line and a true-up.
pub(crate) fn french() -> Issued {
    let standard = |charge, hours, price, amount| {
        line(
            charge,
            hours,
            price,
            amount,
            VatCategory::Standard,
            dec!(0.20),
        )
    };
    Issued {
        number: "INV-2026-000001".into(),
        issued_at: Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
        voids: None,
        reason: None,
        currency: "EUR".into(),
        period: "2026-11".parse().unwrap(),
        time_zone: chrono_tz::Europe::Paris,
        seller: seller(),
        buyer: buyer("FR", Some("356000000"), Some("FR39356000000")),
        lines: vec![
            standard(ChargeKind::Usage, dec!(1000), dec!(2.3655), dec!(2365.50)),
            standard(ChargeKind::Usage, dec!(10), dec!(0.00), dec!(0.00)),
            standard(
                ChargeKind::CommitmentTrueUp,
                dec!(0),
                dec!(134.50),
                dec!(134.50),
            ),
        ],
        net_total: dec!(2500.00),
        vat_total: dec!(500.00),
        total: dec!(3000.00),
        prepaid: dec!(100.00),
    }
}

/// A German business with a VAT number: reverse charge.
pub(crate) fn german() -> Issued {
    let mut issued = french();
    issued.number = "INV-2026-000002".into();
    issued.buyer = buyer("DE", None, Some("DE811907980"));
    issued.lines = vec![line(
        ChargeKind::Usage,
        dec!(100),
        dec!(2.49),
        dec!(249.00),
        VatCategory::ReverseCharge,
        Decimal::ZERO,
    )];
    (
        issued.net_total,
        issued.vat_total,
        issued.total,
        issued.prepaid,
    ) = (dec!(249.00), dec!(0.00), dec!(249.00), dec!(0.00));
    issued
}

/// A Norwegian business: outside the EU, not subject to French VAT.
pub(crate) fn norwegian() -> Issued {
    let mut issued = german();
    issued.number = "INV-2026-000003".into();
    issued.buyer = buyer("NO", None, None);
    issued.lines = vec![
        line(
            ChargeKind::Usage,
            dec!(100),
            dec!(1.25),
            dec!(125.00),
            VatCategory::OutOfScope,
            Decimal::ZERO,
        ),
        line(
            ChargeKind::Usage,
            dec!(-2),
            dec!(1.25),
            dec!(-2.50),
            VatCategory::OutOfScope,
            Decimal::ZERO,
        ),
    ];
    (issued.net_total, issued.vat_total, issued.total) = (dec!(122.50), dec!(0.00), dec!(122.50));
    issued
}

/// The credit note voiding the French invoice.
pub(crate) fn credit_note() -> Issued {
    let mut issued = french();
    issued.number = "CN-2026-000001".into();
    issued.issued_at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    issued.voids = Some(Voided {
        number: "INV-2026-000001".into(),
        issued_at: Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
    });
    issued.reason = Some("erreur de contrat".into());
    issued
}

/// The French invoice of a seller that opted to pay VAT on debits: BT-8 and the TXD note.
pub(crate) fn on_debits() -> Issued {
    let mut issued = french();
    issued.number = "INV-2026-000004".into();
    issued.seller.vat_on_debits = true;
    issued
}

/// Every sample, by file stem.
pub(crate) fn all() -> Vec<(&'static str, Issued)> {
    vec![
        ("sample-fr", french()),
        ("sample-debits", on_debits()),
        ("sample-de", german()),
        ("sample-no", norwegian()),
        ("sample-cn", credit_note()),
    ]
}

#[test]
fn every_sample_renders_and_is_written_for_the_validators() {
    let out = std::env::var_os("EINVOICE_SAMPLES_DIR").map(std::path::PathBuf::from);
    for (stem, issued) in all() {
        let invoice = compose(&issued).unwrap();
        let cii = crate::cii::render(&invoice);
        assert!(cii.contains(&issued.number));
        let pdf = crate::pdf::render(&invoice, &cii).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        let debits = issued.seller.vat_on_debits;
        assert_eq!(
            cii.contains("<ram:DueDateTypeCode>5</ram:DueDateTypeCode>"),
            debits,
            "{stem}"
        );
        assert_eq!(
            cii.contains("<ram:SubjectCode>TXD</ram:SubjectCode>"),
            debits,
            "{stem}"
        );
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{stem}.cii.xml")), &cii).unwrap();
            std::fs::write(
                dir.join(format!("{stem}.ubl.xml")),
                crate::ubl::render(&invoice),
            )
            .unwrap();
            let pdf = crate::pdf::render(&invoice, &cii).unwrap();
            std::fs::write(dir.join(format!("{stem}.pdf")), pdf).unwrap();
        }
    }
}
