//! Outages: Postgres unreachable for longer than a batch takes. The aggregator must stop
//! advancing (no offset moves while the ledger cannot be written), keep retrying the same batch,
//! and drain the backlog exactly once when the database is back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{TestEnv, ledger_fingerprint, meter, meter_two_hours};

const FAST_RETRIES: [(&str, &str); 4] = [
    ("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "100"),
    ("GPUBILL_AGGREGATOR_RETRY_MAX_MS", "500"),
    ("GPUBILL_DATABASE_CONNECT_TIMEOUT_SECONDS", "1"),
    ("GPUBILL_DATABASE_POOL_SIZE", "2"),
];

/// Test 5. Models Postgres unreachable (TCP proxy cut) for longer than a batch: no offset advances,
/// the backlog drains afterwards, totals exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_stops_progress_and_the_backlog_drains_exactly_once() {
    let reference = TestEnv::with_settings(&FAST_RETRIES).await;
    let env = TestEnv::with_settings(&FAST_RETRIES).await;

    // The aggregator reaches Postgres only through the proxy; the test checks through its own pool.
    let (via_proxy, proxy) = env.through_proxy().await;
    let pool = gpubill_platform::db::pool(&via_proxy.settings.database).unwrap();
    let (trigger, stop) = gpubill_platform::shutdown::channel();
    let stats = Arc::new(gpubill_aggregator::AggregatorStats::default());
    let aggregator = {
        let stats = stats.clone();
        tokio::spawn(async move { gpubill_aggregator::run(&via_proxy, pool, stats, stop).await })
    };

    meter(&env, "2026-11-10T00:00:00Z", "2026-11-10T01:00:00Z").await;
    env.wait_caught_up().await;
    let before_outage = env.committed().await;

    proxy.cut();
    meter(&env, "2026-11-10T01:00:00Z", "2026-11-10T02:00:00Z").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // far longer than a batch (250 ms)
    assert_eq!(
        env.committed().await,
        before_outage,
        "no offset may advance while the ledger is unreachable"
    );
    assert!(env.lag().await > 0);

    proxy.restore();
    env.wait_caught_up().await;
    trigger.trigger();
    aggregator.await.unwrap().unwrap();

    meter_two_hours(&reference).await;
    reference.run_aggregator_until_caught_up().await;
    assert_eq!(
        ledger_fingerprint(&env).await,
        ledger_fingerprint(&reference).await,
        "the backlog is applied exactly once"
    );
    // A commit whose acknowledgement the cut swallowed is retried and finds its events applied:
    // they are dropped as duplicates, at most one batch of them.
    let duplicates = stats.snapshot().duplicates;
    assert!(
        duplicates <= 100,
        "at most the one batch in flight at the cut is seen twice, got {duplicates}"
    );
}
