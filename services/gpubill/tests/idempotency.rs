//! `Idempotency-Key` on the POSTs that change state: a retry with the same key and request gets
//! the first answer again, and changes nothing; the same key with another request is refused; a
//! key is per API key; concurrent retries never act twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use support::{Reply, RunningApi, TestEnv};

const GRANTS: &str = "/v1/tenants/nordic-nlp/credit/grants";
const GRANT: &str = r#"{"grant_id": "3e0c8f1e-6a4b-4f3e-9a51-0c2b7e9d4a10", "amount": "25.00", "source": "granted"}"#;
const ALLOCATE: &str =
    r#"{"tenant": "nordic-nlp", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 600}"#;

async fn post(api: &RunningApi, key: &str, path: &str, idempotency_key: &str, body: &str) -> Reply {
    let authorization = format!("Bearer {key}");
    api.raw_with(
        "POST",
        path,
        Some(&authorization),
        &[("Idempotency-Key", idempotency_key)],
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gets_the_first_answer_and_changes_nothing() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let admin = api.admin_key.clone();

    let first = post(&api, &admin, "/v1/allocations", "alloc-1", ALLOCATE).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post(&api, &admin, "/v1/allocations", "alloc-1", ALLOCATE).await;
    assert_eq!(again.status, 201, "the first answer, status included");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("content-type"), first.header("content-type"));
    let (_, listed) = api.get("/v1/tenants/nordic-nlp/allocations").await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "allocated once"
    );

    // Refusals are kept too: the same answer, without doing anything again.
    let finalize = "/v1/tenants/nordic-nlp/invoices/2026-01/finalize";
    let refused = post(&api, &admin, finalize, "finalize-1", "{}").await;
    assert_eq!(refused.status, 422);
    let replayed = post(&api, &admin, finalize, "finalize-1", "{}").await;
    assert_eq!(
        (replayed.status, replayed.header("idempotent-replayed")),
        (422, Some("true"))
    );

    // The same key with another request.
    let other = post(&api, &admin, GRANTS, "alloc-1", GRANT).await;
    assert_eq!(
        (other.status, other.json()["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    let changed = ALLOCATE.replace("600", "900");
    let other = post(&api, &admin, "/v1/allocations", "alloc-1", &changed).await;
    assert_eq!(other.status, 409);

    // A key is per API key: another key's same header is another request.
    let (finance, _) = api.issue_key(r#"{"role": "finance"}"#).await;
    let granted = post(&api, &admin, GRANTS, "grant-1", GRANT).await;
    assert_eq!(granted.status, 201);
    let by_finance = post(&api, &finance, GRANTS, "grant-1", GRANT).await;
    assert_eq!(
        (by_finance.status, by_finance.header("idempotent-replayed")),
        (200, None),
        "finance's own request, answered by the grant id's idempotency"
    );
    let (_, credit) = api.get("/v1/tenants/nordic-nlp/credit").await;
    assert_eq!(credit["balance"], "25.00", "granted once");

    for bad in ["", " ", &"k".repeat(201)] {
        let reply = post(&api, &admin, GRANTS, bad, GRANT).await;
        assert_eq!(
            (reply.status, reply.json()["code"].as_str()),
            (400, Some("invalid_idempotency_key")),
            "{bad:?}"
        );
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_allocate_once() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let admin = api.admin_key.clone();
    let replies = futures_join(&api, &admin).await;
    let created: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    let in_progress = replies
        .iter()
        .filter(|r| r.status == 409)
        .inspect(|r| assert_eq!(r.json()["code"], "idempotency_request_in_progress"))
        .count();
    assert_eq!(
        created.len() + in_progress,
        replies.len(),
        "only 201s and 409s"
    );
    let first = created
        .iter()
        .find(|r| r.header("idempotent-replayed").is_none())
        .unwrap();
    for reply in &created {
        assert_eq!(reply.body, first.body, "one allocation, answered again");
    }
    let (_, listed) = api.get("/v1/tenants/nordic-nlp/allocations").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    api.stop().await;
}

async fn futures_join(api: &RunningApi, key: &str) -> Vec<Reply> {
    let (a, b, c, d) = tokio::join!(
        post(api, key, "/v1/allocations", "race", ALLOCATE),
        post(api, key, "/v1/allocations", "race", ALLOCATE),
        post(api, key, "/v1/allocations", "race", ALLOCATE),
        post(api, key, "/v1/allocations", "race", ALLOCATE),
    );
    vec![a, b, c, d]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_counts_for_a_day_then_is_purged() {
    use chrono::{Duration, Utc};
    use gpubill_access::idempotency::{Claim, KEY_LIFETIME, StoredAnswer, claim, purge, store};
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let admin = api.admin_key.clone();
    let granted = post(&api, &admin, GRANTS, "day-old", GRANT).await;
    assert_eq!(granted.status, 201);
    let (_, keys) = api.get("/v1/api-keys").await;
    let admin_id: uuid::Uuid = keys["data"][0]["id"].as_str().unwrap().parse().unwrap();

    let outcome = env
        .conn(move |conn| {
            let now = Utc::now();
            let digest = [7u8; 32];
            let other = [8u8; 32];
            let answer = StoredAnswer {
                status: 201,
                content_type: None,
                body: b"{}".to_vec(),
            };
            let first = claim(conn, admin_id, "k", &digest, now).unwrap();
            store(conn, admin_id, "k", &answer).unwrap();
            let within = claim(
                conn,
                admin_id,
                "k",
                &other,
                now + KEY_LIFETIME - Duration::seconds(1),
            )
            .unwrap();
            let after = claim(
                conn,
                admin_id,
                "k",
                &other,
                now + KEY_LIFETIME + Duration::seconds(1),
            )
            .unwrap();
            // Every key but those claimed just now is past its lifetime two days from now.
            let purged = purge(conn, now + KEY_LIFETIME * 2).unwrap();
            (first, within, after, purged)
        })
        .await;
    assert_eq!(outcome.0, Claim::Claimed);
    assert_eq!(
        outcome.1,
        Claim::OtherRequest,
        "still the first request's within a day"
    );
    assert_eq!(outcome.2, Claim::Claimed, "free again after a day");
    assert_eq!(
        outcome.3, 1,
        "the key of the grant, a day old by then, is purged"
    );
    api.stop().await;
}
