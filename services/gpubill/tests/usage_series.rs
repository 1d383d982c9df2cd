//! `GET /v1/tenants/{tenant}/usage?granularity=&group_by=`: the usage the portal charts, in
//! buckets of the tenant's hours, days or months, split by SKU, price class or allocation, on
//! usage metered through the real pipeline. The buckets add up to the window's totals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::str::FromStr;
use support::TestEnv;

fn decimal(value: &serde_json::Value) -> Decimal {
    Decimal::from_str(value.as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_comes_in_buckets_of_the_tenants_time_that_add_up_to_the_window() {
    let env = TestEnv::new().await;
    // Three and a half hours, starting inside an hour.
    support::meter(&env, "2026-11-10T00:30:00Z", "2026-11-10T04:00:00Z").await;
    env.run_aggregator_until_caught_up().await;
    let api = env.start_api().await;
    let window = "from=2026-11-10T00:00:00Z&to=2026-11-11T00:00:00Z";

    let (status, plain) = api
        .get(&format!("/v1/tenants/mistral-lab/usage?{window}"))
        .await;
    assert_eq!(status, 200);
    assert!(plain["series"].is_null());
    let window_seconds: Decimal = plain["skus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sku| decimal(&sku["gpu_seconds"]))
        .sum();
    assert!(window_seconds > Decimal::ZERO);

    let (status, hourly) = api
        .get(&format!(
            "/v1/tenants/mistral-lab/usage?{window}&granularity=hour&group_by=price_class,sku"
        ))
        .await;
    assert_eq!(status, 200, "{hourly}");
    let series = &hourly["series"];
    assert_eq!(series["time_zone"], "Europe/Paris");
    assert_eq!(
        series["group_by"],
        serde_json::json!(["sku", "price_class"])
    );
    let buckets = series["buckets"].as_array().unwrap();
    let hours: BTreeSet<&str> = buckets
        .iter()
        .map(|bucket| bucket["start"].as_str().unwrap())
        .collect();
    assert_eq!(hours.len(), 4, "00:30-01:00, 01, 02 and 03 UTC: {hours:?}");
    for bucket in buckets {
        assert!(bucket["sku"].is_string() && bucket["price_class"].is_string());
        assert!(bucket["allocation_id"].is_null());
    }
    let seconds: Decimal = buckets
        .iter()
        .map(|bucket| decimal(&bucket["gpu_seconds"]))
        .sum();
    assert_eq!(seconds, decimal(&series["total_gpu_seconds"]));
    assert_eq!(seconds, window_seconds);
    let amount: Decimal = buckets
        .iter()
        .map(|bucket| decimal(&bucket["amount"]))
        .sum();
    assert_eq!(amount, decimal(&series["total_amount"]));

    // A month of the tenant's time zone is one bucket per allocation.
    let (status, monthly) = api
        .get(&format!(
            "/v1/tenants/mistral-lab/usage?{window}&granularity=month&group_by=allocation"
        ))
        .await;
    assert_eq!(status, 200);
    let buckets = monthly["series"]["buckets"].as_array().unwrap();
    assert!(
        buckets
            .iter()
            .all(|bucket| bucket["start"] == "2026-10-31T23:00:00Z"
                && bucket["end"] == "2026-11-30T23:00:00Z")
    );
    assert!(
        buckets
            .iter()
            .all(|bucket| bucket["allocation_id"].is_string())
    );
    let seconds: Decimal = buckets
        .iter()
        .map(|bucket| decimal(&bucket["gpu_seconds"]))
        .sum();
    assert_eq!(seconds, window_seconds);

    for bad in ["granularity=week", "group_by=node", "group_by=sku,,tenant"] {
        let (status, problem) = api
            .get(&format!("/v1/tenants/mistral-lab/usage?{window}&{bad}"))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
    api.stop().await;
}
