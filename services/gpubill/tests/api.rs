//! The HTTP API's contract for bad requests: a 4xx with a machine-readable JSON body, never a
//! panic, an HTML page or an empty answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use support::TestEnv;

/// Models clients sending malformed requests: each gets a 4xx with a stable machine-readable code, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_stable_codes() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;

    let cases = [
        (
            "/v1/tenants/nobody/invoices/draft?period=2026-11",
            404,
            "tenant_not_found",
        ),
        (
            "/v1/tenants/nobody/usage?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z",
            404,
            "tenant_not_found",
        ),
        (
            "/v1/tenants/mistral-lab/invoices/draft",
            400,
            "invalid_query",
        ),
        (
            "/v1/tenants/mistral-lab/invoices/draft?period=2026-13",
            400,
            "invalid_period",
        ),
        (
            "/v1/tenants/mistral-lab/invoices/draft?period=november",
            400,
            "invalid_period",
        ),
        (
            "/v1/tenants/mistral-lab/invoices/draft?period=2026-11&extra=1",
            400,
            "invalid_query",
        ),
        (
            "/v1/tenants/mistral-lab/usage?from=2026-11-01",
            400,
            "invalid_query",
        ),
        (
            "/v1/tenants/mistral-lab/usage?from=yesterday&to=2026-11-02T00:00:00Z",
            400,
            "invalid_query",
        ),
        (
            "/v1/tenants/mistral-lab/usage?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            400,
            "invalid_query",
        ),
        ("/v1/no/such/route", 404, "route_not_found"),
    ];
    for (path, status, code) in cases {
        let (got_status, body) = api.get(path).await;
        assert_eq!(got_status, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    api.stop().await;
}

/// Models a portal asking before any usage exists: health is up and the invoice is empty, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_empty_invoice() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (status, body) = api.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, invoice) = api
        .get("/v1/tenants/mistral-lab/invoices/draft?period=2026-11")
        .await;
    assert_eq!(status, 200);
    assert_eq!(invoice["lines"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        (
            invoice["net_total"].as_str(),
            invoice["vat_total"].as_str(),
            invoice["total"].as_str()
        ),
        (Some("0.00"), Some("0.00"), Some("0.00"))
    );
    assert_eq!(invoice["vat_rate"], "0.20");
    assert_eq!(invoice["currency"], "EUR");
    api.stop().await;
}

/// Models finance and the billing portal working a tenant's account through the API: a contract
/// set and read back, prepaid credit granted idempotently, a month finalized, listed, read and
/// voided; and every bad request refused with a 4xx and a machine-readable code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_credit_and_the_invoice_lifecycle() {
    use gpubill_domain::PriceClass;
    use gpubill_ledger::bookings::{RatedAddition, book_usage};
    use rust_decimal::dec;

    let env = TestEnv::new().await;
    env.conn(|conn| {
        use diesel::Connection;
        conn.transaction(|conn| {
            book_usage(
                conn,
                uuid::Uuid::new_v4(),
                &[RatedAddition {
                    tenant_id: "mistral-lab".into(),
                    period: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
                    sku: "H100-SXM5-80GB".into(),
                    price_class: PriceClass::OnDemand,
                    price_per_gpu_hour: dec!(2.49),
                    gpu_seconds: dec!(360000),
                }],
            )
        })
        .unwrap();
    })
    .await;
    let api = env.start_api().await;
    let base = "/v1/tenants/mistral-lab";

    let (status, contract) = api
        .send(
            "PUT",
            &format!("{base}/contract"),
            r#"{"discount_percent": "10"}"#,
        )
        .await;
    assert_eq!(
        (status, &contract["version"]),
        (200, &serde_json::json!(1)),
        "{contract}"
    );
    let (status, contract) = api.get(&format!("{base}/contract")).await;
    assert_eq!(status, 200);
    assert_eq!(contract["terms"]["discount_percent"], "10");

    let grant = r#"{"grant_id": "7b1f6f0e-3c1a-4f53-9d7e-2a1c0b9e8d01", "amount": "100.00", "source": "bought", "note": "top-up"}"#;
    let (status, granted) = api
        .send("POST", &format!("{base}/credit/grants"), grant)
        .await;
    assert_eq!(
        (status, granted["balance"].as_str()),
        (201, Some("100.00")),
        "{granted}"
    );
    let (status, _) = api
        .send("POST", &format!("{base}/credit/grants"), grant)
        .await;
    assert_eq!(status, 200, "a retried grant books nothing");
    let (status, credit) = api.get(&format!("{base}/credit")).await;
    assert_eq!((status, credit["balance"].as_str()), (200, Some("100.00")));
    assert_eq!(credit["data"].as_array().map(Vec::len), Some(1));

    // 100 h at 2.49 less 10 % = 224.10; VAT 20 % = 44.82; 100.00 of credit drawn.
    let (status, invoice) = api
        .send("POST", &format!("{base}/invoices/2026-09/finalize"), "")
        .await;
    assert_eq!(status, 201, "{invoice}");
    assert_eq!(invoice["net_total"], "224.10");
    assert_eq!(invoice["total"], "268.92");
    assert_eq!(invoice["credit_applied"], "100.00");
    assert_eq!(invoice["amount_due"], "168.92");
    let number = invoice["number"].as_str().unwrap().to_owned();
    let (status, again) = api
        .send("POST", &format!("{base}/invoices/2026-09/finalize"), "")
        .await;
    assert_eq!((status, &again["number"]), (200, &invoice["number"]));
    let (status, listed) = api.get(&format!("{base}/invoices")).await;
    assert_eq!(
        (status, listed["data"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, read) = api.get(&format!("/v1/invoices/{number}")).await;
    assert_eq!((status, &read), (200, &invoice));

    let (status, note) = api
        .send(
            "POST",
            &format!("/v1/invoices/{number}/void"),
            r#"{"reason": "wrong contract"}"#,
        )
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["total"], "-268.92");
    let credit_note = note["number"].as_str().unwrap().to_owned();
    let (status, again) = api
        .send(
            "POST",
            &format!("/v1/invoices/{number}/void"),
            r#"{"reason": "again"}"#,
        )
        .await;
    assert_eq!((status, &again["number"]), (200, &note["number"]));
    let (status, read) = api.get(&format!("/v1/credit-notes/{credit_note}")).await;
    assert_eq!((status, &read["invoice_number"]), (200, &invoice["number"]));
    let (_, read) = api.get(&format!("/v1/invoices/{number}")).await;
    assert_eq!(read["status"], "voided");
    let (_, credit) = api.get(&format!("{base}/credit")).await;
    assert_eq!(
        credit["balance"], "100.00",
        "the credit note gives the credit back"
    );

    let refused: [(&str, &str, String, &str, u16, &str); 11] = [
        (
            "PUT",
            "",
            format!("{base}/contract"),
            r#"{"discount_percent": "120"}"#,
            422,
            "invalid_contract",
        ),
        (
            "PUT",
            "",
            format!("{base}/contract"),
            r#"{"discount_percent_by_sku": {"A100": "5"}}"#,
            422,
            "unknown_sku",
        ),
        (
            "PUT",
            "",
            format!("{base}/contract"),
            r#"{"discount_percent": 10}"#,
            400,
            "invalid_body",
        ),
        (
            "PUT",
            "",
            "/v1/tenants/nobody/contract".into(),
            "{}",
            404,
            "tenant_not_found",
        ),
        (
            "POST",
            "",
            format!("{base}/credit/grants"),
            r#"{"grant_id": "7b1f6f0e-3c1a-4f53-9d7e-2a1c0b9e8d01", "amount": "5.00", "source": "bought"}"#,
            409,
            "id_reused",
        ),
        (
            "POST",
            "",
            format!("{base}/credit/grants"),
            r#"{"grant_id": "0b1f6f0e-3c1a-4f53-9d7e-2a1c0b9e8d01", "amount": "0.001", "source": "bought"}"#,
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "",
            format!("{base}/credit/grants"),
            r#"{"grant_id": "0b1f6f0e-3c1a-4f53-9d7e-2a1c0b9e8d01", "amount": "5.00", "source": "free"}"#,
            400,
            "invalid_source",
        ),
        (
            "POST",
            "",
            format!("{base}/invoices/2099-01/finalize"),
            "",
            409,
            "period_open",
        ),
        (
            "POST",
            "",
            "/v1/tenants/nordic-nlp/invoices/2026-08/finalize".into(),
            "",
            422,
            "nothing_to_bill",
        ),
        (
            "POST",
            "",
            "/v1/invoices/INV-2026-999999/void".into(),
            r#"{"reason": "x"}"#,
            404,
            "not_found",
        ),
        (
            "POST",
            "",
            format!("/v1/invoices/{number}/void"),
            r#"{"reason": " "}"#,
            400,
            "invalid_body",
        ),
    ];
    for (method, _, path, body, status, code) in refused {
        let (got, answer) = api.send(method, &path, body).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{method} {path} {body}: {answer}"
        );
    }
    api.stop().await;
}

/// Models a portal showing the list prices: the price book as the ledger loaded it, every SKU with
/// its versions and a price per class, as decimal strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_price_book_lists_every_sku_with_its_class_prices() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (status, book) = api.get("/v1/price-book").await;
    assert_eq!(status, 200, "{book}");
    assert_eq!(book["currency"], "EUR");
    let skus: Vec<&str> = book["skus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sku| sku["sku"].as_str().unwrap())
        .collect();
    assert_eq!(
        skus,
        [
            "H100-MIG-1g.10gb",
            "H100-MIG-2g.20gb",
            "H100-MIG-3g.40gb",
            "H100-MIG-4g.40gb",
            "H100-MIG-7g.80gb",
            "H100-PCIe-80GB",
            "H100-SXM5-80GB",
            "L40S-48GB",
        ]
    );
    let h100 = &book["skus"][6];
    assert_eq!(
        h100["versions"],
        serde_json::json!([{
            "effective_from": "2026-01-01T00:00:00Z",
            "prices": {"on_demand": "2.49", "spot": "1.25", "reserved": "1.89"}
        }])
    );
    // Prices keep the places they were configured with.
    assert_eq!(
        book["skus"][2]["versions"][0]["prices"]["on_demand"],
        "1.10"
    );
    api.stop().await;
}
