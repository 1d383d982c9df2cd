//! Crash tests: the aggregator, a real child process, dies at every point of a batch — before the
//! database commit, in the middle of the batch's writes, right after the commit, right after the
//! dead letters were produced — and at an arbitrary moment (`kill -9`). After a restart the ledger
//! is exactly the one an uninterrupted run writes, and no bad record is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use support::{TestEnv, dead_letters, ledger_fingerprint, meter, produce_poison};

const SMALL_BATCHES: [(&str, &str); 2] = [
    ("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "40"),
    ("GPUBILL_AGGREGATOR_BATCH_MAX_WAIT_MS", "20"),
];

/// Good records, then poison, then more good records; returns the poison reasons.
async fn produce_workload(env: &TestEnv) -> Vec<&'static str> {
    meter(env, "2026-11-10T00:00:00Z", "2026-11-10T01:00:00Z").await;
    let reasons = produce_poison(env).await;
    meter(env, "2026-11-10T01:00:00Z", "2026-11-10T02:00:00Z").await;
    reasons
}

/// The ledger and dead letters of an uninterrupted in-process run.
async fn reference() -> (Vec<String>, Vec<(String, String)>) {
    let env = TestEnv::with_settings(&SMALL_BATCHES).await;
    let reasons = produce_workload(&env).await;
    env.run_aggregator_until_caught_up().await;
    (
        ledger_fingerprint(&env).await,
        dead_letters(&env, reasons.len()),
    )
}

/// Runs a child aggregator to completion and checks the ledger against the reference.
async fn finish_and_compare(
    env: &TestEnv,
    expected: &(Vec<String>, Vec<(String, String)>),
    what: &str,
) {
    let _resumed = env.spawn_aggregator(None);
    env.wait_caught_up().await;
    assert_eq!(
        &ledger_fingerprint(env).await,
        &expected.0,
        "{what}: the ledger differs from an uninterrupted run"
    );
    // Dead letters are at least once: a crash between producing them and committing the batch
    // produces them again. None may be missing, and copies are recognisable by source offset.
    let mut letters = dead_letters(env, expected.1.len());
    letters.dedup();
    assert_eq!(&letters, &expected.1, "{what}: dead letters differ");
}

/// Test 3. Models the aggregator process dying (kill -9 through a failpoint) right before the commit,
/// mid-batch, right after the commit and right after the dead letters: after a restart the
/// totals are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_point_of_a_batch_neither_loses_nor_double_bills() {
    let expected = reference().await;
    for failpoint in [
        "aggregator.before_commit:4",
        "aggregator.mid_batch:4",
        "aggregator.after_commit:4",
        "aggregator.after_dead_letters:1",
    ] {
        let env = TestEnv::with_settings(&SMALL_BATCHES).await;
        produce_workload(&env).await;
        let mut crashed = env.spawn_aggregator(Some(failpoint));
        let status = crashed.wait_exit(60).await;
        assert!(
            !status.success(),
            "{failpoint}: the aggregator must die there, exited with {status}"
        );
        assert!(
            env.lag().await > 0,
            "{failpoint}: the crash must happen mid-stream"
        );
        finish_and_compare(&env, &expected, failpoint).await;
    }
}

/// Test 3. Models a SIGKILL at an arbitrary moment of consuming: the restart resumes from the last
/// commit, totals exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_consuming_then_restart() {
    let expected = reference().await;
    let env = TestEnv::with_settings(&SMALL_BATCHES).await;
    produce_workload(&env).await;
    let mut victim = env.spawn_aggregator(None);
    // Let it commit some batches, then SIGKILL it wherever it is.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.committed().await.values().sum::<i64>() < 400 {
        assert!(
            std::time::Instant::now() < deadline,
            "no progress before the kill"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    victim.kill();
    assert!(env.lag().await > 0, "the kill must happen mid-stream");
    finish_and_compare(&env, &expected, "kill -9").await;
}
