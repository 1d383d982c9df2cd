//! The HTTP API's contract for bad requests: a 4xx with a machine-readable JSON body, never a
//! panic, an HTML page or an empty answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use support::TestEnv;

/// Models clients sending malformed requests: each gets a 4xx with a stable machine-readable code, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_stable_codes() {
    let env = TestEnv::new().await;
    let api = env.start_api();

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
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    api.stop().await;
}

/// Models a portal asking before any usage exists: health is up and the invoice is empty, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_empty_invoice() {
    let env = TestEnv::new().await;
    let api = env.start_api();
    let (status, body) = api.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, invoice) = api
        .get("/v1/tenants/helix-bio/invoices/draft?period=2026-11")
        .await;
    assert_eq!(status, 200);
    assert_eq!(invoice["lines"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        (
            invoice["subtotal"].as_str(),
            invoice["vat"].as_str(),
            invoice["total"].as_str()
        ),
        (Some("0.00"), Some("0.00"), Some("0.00"))
    );
    assert_eq!(invoice["vat_rate"], "0.20");
    assert_eq!(invoice["currency"], "EUR");
    api.stop().await;
}

/// Models a portal showing the list prices: the price book as the ledger loaded it, every SKU with
/// its versions and a price per class, as decimal strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_price_book_lists_every_sku_with_its_class_prices() {
    let env = TestEnv::new().await;
    let api = env.start_api();
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
