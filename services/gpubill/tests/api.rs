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
