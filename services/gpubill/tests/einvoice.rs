//! E-invoices of a test month on a real Postgres, fetched over HTTP: a French tenant at 20 % with
//! a discount and graduated tiers (several prices in one SKU) and late usage of an invoiced month
//! (an adjustment), a German tenant with a VAT number (reverse charge) with reserved capacity and
//! prepaid credit, a Norwegian tenant (not subject to French VAT) short of its minimum commitment
//! (a true-up), and a credit note voiding an invoice. Every document is fetched in CII, UBL and
//! as a Factur-X PDF; with `EINVOICE_SAMPLES_DIR=DIR` they are written there for the official
//! validators (`scripts/validate-einvoices.sh`, run by `make test`), with, in `DIR/broken/`, a
//! document broken on purpose (the French buyer's SIREN removed) that the validators must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use gpubill_domain::PriceClass;
use gpubill_ledger::invoicing::finalize_invoice;
use rust_decimal::dec;
use std::path::PathBuf;
use support::test_month::{finalize, test_month};
use support::{RunningApi, TestEnv, at, book, h100_hours};

/// Where the documents go: `EINVOICE_SAMPLES_DIR`, or a directory of the test's own.
fn out_dir(env: &TestEnv) -> PathBuf {
    let dir = std::env::var_os("EINVOICE_SAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("{}-einvoices", env.database)));
    std::fs::create_dir_all(dir.join("broken")).unwrap();
    dir
}

async fn fetch(api: &RunningApi, path: &str) -> (Vec<u8>, String) {
    let reply = api.request("GET", path, Some(&api.admin_key), None).await;
    assert_eq!(
        reply.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let disposition = reply.header("content-disposition").unwrap().to_owned();
    (reply.body, disposition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_of_the_test_month_renders_in_every_format() {
    let env = TestEnv::new().await;
    let (invoices, credit_note) = env.conn(test_month).await;
    let api = env.start_api().await;
    let dir = out_dir(&env);

    let mut documents: Vec<(String, &str)> = invoices
        .iter()
        .map(|invoice| (invoice.number.clone().unwrap(), "invoices"))
        .collect();
    documents.push((credit_note.clone(), "credit-notes"));
    for (number, collection) in &documents {
        for (path, file) in [
            (
                format!("/v1/{collection}/{number}/e-invoice?syntax=cii"),
                format!("{number}.cii.xml"),
            ),
            (
                format!("/v1/{collection}/{number}/e-invoice?syntax=ubl"),
                format!("{number}.ubl.xml"),
            ),
            (
                format!("/v1/{collection}/{number}/pdf"),
                format!("{number}.pdf"),
            ),
        ] {
            let (bytes, disposition) = fetch(&api, &path).await;
            assert_eq!(disposition, format!("attachment; filename=\"{file}\""));
            std::fs::write(dir.join(&file), &bytes).unwrap();
        }
    }

    // The cases the month was built for.
    let cii =
        |number: &str| std::fs::read_to_string(dir.join(format!("{number}.cii.xml"))).unwrap();
    let mistral_october = invoices[0].number.clone().unwrap();
    let french = cii(&mistral_october);
    for (price, what) in [
        ("2.3655", "first band, less 5 %"),
        ("2.12895", "second band, less 10 % and 5 %"),
    ] {
        assert!(
            french.contains(&format!("<ram:ChargeAmount>{price}</ram:ChargeAmount>")),
            "{what}"
        );
    }
    assert!(french.contains("<ram:CategoryCode>S</ram:CategoryCode>"));
    assert!(french.contains("<ram:Content>B2B</ram:Content>"));
    let helix = cii(invoices[1].number.as_deref().unwrap());
    assert!(helix.contains("<ram:ExemptionReasonCode>VATEX-EU-AE</ram:ExemptionReasonCode>"));
    assert!(
        helix.contains("<ram:ChargeAmount>1.89</ram:ChargeAmount>"),
        "the reservation's price"
    );
    assert!(helix.contains("<ram:TotalPrepaidAmount>100.00</ram:TotalPrepaidAmount>"));
    let nordic = cii(invoices[2].number.as_deref().unwrap());
    assert!(nordic.contains("<ram:ExemptionReasonCode>VATEX-EU-O</ram:ExemptionReasonCode>"));
    assert!(
        !nordic.contains("schemeID=\"VA\""),
        "BR-O-02: no VAT identifiers"
    );
    assert!(
        nordic.contains("<ram:BilledQuantity unitCode=\"C62\">1</ram:BilledQuantity>"),
        "the true-up"
    );
    let mistral_november = cii(invoices[3].number.as_deref().unwrap());
    assert!(mistral_november.contains("Adjustment for 2026-10"));
    let note = cii(&credit_note);
    assert!(note.contains("<ram:TypeCode>381</ram:TypeCode>"));
    assert!(note.contains(&format!(
        "<ram:IssuerAssignedID>{}</ram:IssuerAssignedID>",
        invoices[2].number.as_deref().unwrap()
    )));

    // Amounts as issued, to the cent.
    for invoice in &invoices {
        let xml = cii(invoice.number.as_deref().unwrap());
        assert!(xml.contains(&format!(
            "<ram:GrandTotalAmount>{}</ram:GrandTotalAmount>",
            invoice.total
        )));
        assert!(xml.contains(&format!(
            "<ram:DuePayableAmount>{}</ram:DuePayableAmount>",
            invoice.amount_due
        )));
    }

    // The command line writes the same bytes as the API serves.
    let from_cli = dir.join("cli").join(format!("{mistral_october}.ubl.xml"));
    std::fs::create_dir_all(from_cli.parent().unwrap()).unwrap();
    let output = env
        .run_cli(&[
            "invoice",
            "render",
            &mistral_october,
            "--format",
            "ubl",
            "--out",
            from_cli.to_str().unwrap(),
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read(&from_cli).unwrap(),
        std::fs::read(dir.join(format!("{mistral_october}.ubl.xml"))).unwrap()
    );
    std::fs::remove_dir_all(dir.join("cli")).unwrap();

    // Broken on purpose: the French buyer without its SIREN, which a French buyer must have.
    let broken = french.replacen("<ram:ID schemeID=\"0002\">812345676</ram:ID>", "", 1);
    assert_ne!(broken, french, "the buyer's SIREN was found");
    std::fs::write(dir.join("broken").join("no-buyer-siren.cii.xml"), broken).unwrap();
    api.stop().await;
}

/// The billing profile over HTTP: read by the tenant, written by finance, refused field by field
/// when an invoice could not name it; an invoice freezes the profile it was issued with; no
/// invoice is finalized for a tenant without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_profiles_are_checked_frozen_and_required() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let path = "/v1/tenants/mistral-lab/billing-profile";
    let (tenant_key, _) = api
        .issue_key(r#"{"role": "tenant", "tenant": "mistral-lab"}"#)
        .await;
    let read = api.request("GET", path, Some(&tenant_key), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["siren"], "812345676");
    assert_eq!(read.json()["address"]["country"], "FR");

    let update = |siren: &str, country: &str, name: &str| {
        format!(
            r#"{{"legal_name": "{name}", "siren": "{siren}", "billing_email": "ap@mistral-lab.example",
                "address": {{"line1": "1 place de la Bourse", "postcode": "75002", "city": "Paris", "country": "{country}"}},
                "electronic_address": {{"scheme": "0225", "id": "{siren}"}}}}"#
        )
    };
    for (body, field) in [
        (update("812345670", "FR", "Mistral Lab SAS"), "siren"),
        (update("812345676", "DE", "Mistral Lab SAS"), "address"),
        (update("812345676", "FR", ""), "legal_name"),
    ] {
        let (status, refused) = api.send("PUT", path, &body).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["code"], "invalid_billing_profile");
        assert_eq!(refused["details"]["field"], field, "{refused}");
    }
    let refused = api
        .request(
            "PUT",
            path,
            Some(&tenant_key),
            Some(&update("812345676", "FR", "X")),
        )
        .await;
    assert_eq!(
        refused.status, 403,
        "tenants read their profile, finance writes it"
    );

    env.conn(|conn| {
        book(
            conn,
            &[h100_hours(
                "mistral-lab",
                "2026-10",
                PriceClass::OnDemand,
                dec!(2.49),
                dec!(1),
            )],
        );
        finalize(conn, "mistral-lab", "2026-10", "2026-11-05T09:00:00Z");
    })
    .await;
    let (status, _) = api
        .send(
            "PUT",
            path,
            &update("812345676", "FR", "Mistral Lab Holding SAS"),
        )
        .await;
    assert_eq!(status, 200);
    let (october, _) = fetch(&api, "/v1/invoices/INV-2026-000001/e-invoice").await;
    assert!(
        String::from_utf8(october)
            .unwrap()
            .contains("<ram:Name>Mistral Lab SAS</ram:Name>"),
        "the invoice names the buyer it was issued to"
    );
    env.conn(|conn| {
        book(
            conn,
            &[h100_hours(
                "mistral-lab",
                "2026-11",
                PriceClass::OnDemand,
                dec!(2.49),
                dec!(1),
            )],
        );
        finalize(conn, "mistral-lab", "2026-11", "2026-12-05T09:00:00Z");
    })
    .await;
    let (november, _) = fetch(&api, "/v1/invoices/INV-2026-000002/e-invoice?syntax=ubl").await;
    assert!(
        String::from_utf8(november)
            .unwrap()
            .contains("Mistral Lab Holding SAS")
    );

    let (status, refused) = api
        .get("/v1/invoices/INV-2026-000002/e-invoice?syntax=xml")
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_syntax"))
    );
    let (status, _) = api.get("/v1/invoices/CN-2026-000001/pdf").await;
    assert_eq!(status, 404, "a credit note's number on the invoices' route");

    // A tenant nobody gave a billing profile.
    let missing = env
        .conn(|conn| {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(
                    "INSERT INTO tenants (tenant_id, name, country) VALUES ('bare-lab', 'Bare Lab', 'FR')",
                ),
                conn,
            )
            .unwrap();
            book(conn, &[h100_hours("bare-lab", "2026-10", PriceClass::OnDemand, dec!(2.49), dec!(1))]);
            finalize_invoice(
                conn,
                "bare-lab",
                "2026-10".parse().unwrap(),
                "EUR",
                &support::seller(),
                at("2026-11-05T09:00:00Z"),
            )
        })
        .await;
    assert!(matches!(
        missing,
        Err(gpubill_ledger::LedgerError::BillingProfileMissing(_))
    ));
    let (status, refused) = api
        .send(
            "POST",
            "/v1/tenants/bare-lab/invoices/2026-10/finalize",
            "{}",
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("billing_profile_missing"))
    );
    api.stop().await;
}
