//! Lists in pages, walked while rows are added: every row that existed when the walk started is
//! seen exactly once, none twice, in the list's order; a history's running balance carries over
//! from one page to the next.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use gpubill_domain::CreditSource;
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use support::{RunningApi, TestEnv};

/// Every row of a list, page by page of `limit`, as JSON.
async fn walk(api: &RunningApi, path: &str, limit: usize) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(cursor) => format!("{path}{separator}limit={limit}&cursor={cursor}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let (status, page) = api.get(&page_path).await;
        assert_eq!(status, 200, "{page_path}: {page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit);
        rows.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return rows,
        }
        // Let the writer in between pages.
        tokio::task::yield_now().await;
    }
}

async fn grant(env: &TestEnv, count: usize) {
    env.conn(move |conn| {
        for _ in 0..count {
            gpubill_ledger::credits::grant_credit(
                conn,
                uuid::Uuid::new_v4(),
                "mistral-lab",
                Decimal::new(150, 2),
                CreditSource::Granted,
                "page test",
            )
            .unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_history_walked_while_credit_is_granted_sees_each_movement_once() {
    let env = TestEnv::new().await;
    grant(&env, 120).await;
    let api = env.start_api().await;
    let writer = {
        let env_grants = grant(&env, 60);
        let walker = walk(&api, "/v1/tenants/mistral-lab/credit", 7);
        tokio::join!(env_grants, walker).1
    };
    let rows = writer;
    let ids: Vec<&str> = rows
        .iter()
        .map(|row| row["transaction_id"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a movement was seen twice");
    assert!(
        ids.len() >= 120,
        "only {} of the 120 movements before the walk",
        ids.len()
    );
    // Oldest first, each balance the previous one plus its amount.
    let mut balance = Decimal::ZERO;
    for row in &rows {
        balance += row["amount"].as_str().unwrap().parse::<Decimal>().unwrap();
        assert_eq!(
            row["balance"].as_str().unwrap(),
            balance.to_string(),
            "{row}"
        );
    }
    // Walked again afterwards: everything, in the same order.
    let again = walk(&api, "/v1/tenants/mistral-lab/credit", 50).await;
    assert_eq!(again.len(), 180);
    assert_eq!(&again[..rows.len()], &rows[..]);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_walked_while_others_are_made_are_each_seen_once_newest_first() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let request = r#"{"tenant": "mistral-lab", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 3600}"#;
    let mut before = BTreeSet::new();
    for _ in 0..40 {
        let (status, made) = api.send("POST", "/v1/allocations", request).await;
        assert_eq!(status, 201, "{made}");
        before.insert(made["id"].as_str().unwrap().to_owned());
    }
    let make_more = async {
        for _ in 0..20 {
            let (status, _) = api.send("POST", "/v1/allocations", request).await;
            assert_eq!(status, 201);
        }
    };
    let (_, rows) = tokio::join!(
        make_more,
        walk(&api, "/v1/tenants/mistral-lab/allocations", 6)
    );
    let ids: Vec<String> = rows
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "an allocation was seen twice");
    assert!(
        before.is_subset(&unique),
        "an allocation made before the walk was missed"
    );
    let started: Vec<&str> = rows
        .iter()
        .map(|row| row["started_at"].as_str().unwrap())
        .collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let (status, refused) = api
        .get("/v1/tenants/mistral-lab/allocations?cursor=00ff")
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_cursor"))
    );
    api.stop().await;
}
