//! Test 6, broker outage: the broker dies (killed, as in a crash or a lost host) and stays away
//! for longer than the producer's message timeout while the agent meters, so that deliveries
//! fail instead of merely waiting. The agent must keep every event in its on-disk spool, treat the
//! failures as retryable, and drain the spool once the broker is back (or, if it is stopped first,
//! send what is left on its next start); the ledger must then hold every interval of the window
//! exactly once, with exact totals.
//!
//! Each test runs a broker of its own (`OwnBroker`: durable storage on a free port) so that it can
//! kill and restart it without disturbing the tests that share the broker at `KAFKA_BROKERS`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use gpubill_agent::{AgentReport, RunWindow};
use gpubill_platform::config::Cluster;
use gpubill_platform::shutdown::{self, Shutdown};
use rdkafka::consumer::Consumer;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{OwnBroker, TestEnv, at, cents, div_round_half_even, ledger_totals, small_cluster};
use tokio::task::JoinHandle;

/// Producer message timeout in these tests: deliveries fail after this long without a broker.
const MESSAGE_TIMEOUT_MS: &str = "2000";
/// How long the broker is down: three message timeouts.
const OUTAGE: Duration = Duration::from_secs(6);
/// Simulated seconds per wall second: the two-hour window takes 12 s.
const SPEED: f64 = 600.0;
/// 2 GPUs × 720 intervals + 1 GPU × 540 intervals (allocation r-2 starts at 00:30).
const WINDOW_EVENTS: u64 = 2 * 720 + 540;

/// Broker down for three message timeouts in the middle of a paced run: the agent spools,
/// recovers by itself, and the totals are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_spools_through_a_broker_outage_and_the_ledger_totals_are_exact() {
    let test_started = Instant::now();
    let (mut broker, env) = start().await;
    // Held to the end: dropping the trigger would count as a shutdown.
    let (_trigger, stop) = shutdown::channel();
    let agent = spawn_agent(&env, window(SPEED), stop);

    // Some events are delivered before the outage, most of the window is metered during it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_until_stored(&env).await;
    broker.kill();
    tokio::time::sleep(OUTAGE).await;
    broker.restart().await;

    let report = tokio::time::timeout(Duration::from_secs(30), agent)
        .await
        .expect("the agent drains its spool within 30 s of the broker's return")
        .unwrap()
        .expect("delivery failures are not fatal to the agent");
    env.note_delivered(&report.delivered);
    let aggregated = env.run_aggregator_until_caught_up().await;
    eprintln!(
        "broker outage: {} events, outage {OUTAGE:?}, spool {:?}, aggregator applied {} and dropped {} duplicates, test wall time {:.1?}",
        report.events,
        report.spool,
        aggregated.applied,
        aggregated.duplicates,
        test_started.elapsed()
    );

    assert_eq!(report.events, WINDOW_EVENTS);
    assert_eq!(report.spool.spooled, report.events);
    assert!(report.spool.delivery_failures > 0, "{:?}", report.spool);
    assert!(report.spool.resent > 0, "{:?}", report.spool);
    assert!(
        report.spool.max_depth_events >= 500,
        "the outage's events waited in the spool: {:?}",
        report.spool
    );
    assert_eq!(report.spool.full_alarms, 0);
    assert_eq!(report.spool.left_events, 0, "the spool is drained");
    assert_eq!(
        aggregated.applied, WINDOW_EVENTS,
        "every interval is billed once; copies re-sent after the outage are dropped"
    );
    assert_totals_exact(&env, &small_cluster(&env.config.cluster)).await;
}

/// The agent is stopped (as by SIGTERM) while the broker is down: it exits within its grace
/// period and leaves the unacknowledged events in its spool; the next run sends them first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stopped_during_an_outage_leaves_its_events_to_the_next_start() {
    let (mut broker, env) = start().await;
    let (trigger, stop) = shutdown::channel();
    let first = spawn_agent(&env, window(SPEED), stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    wait_until_stored(&env).await;
    broker.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    trigger.trigger();
    let first = first
        .await
        .unwrap()
        .expect("a stop during an outage is clean");
    assert!(
        stopping.elapsed() < Duration::from_secs(12),
        "the agent waits at most its grace period for the broker"
    );
    assert!(first.spool.left_events > 0, "{:?}", first.spool);
    assert!(first.events < WINDOW_EVENTS, "stopped mid-window");
    env.note_delivered(&first.delivered);

    // The next start, with the broker back, meters the whole window again as fast as it can.
    broker.restart().await;
    let (_trigger, stop) = shutdown::channel();
    let second: AgentReport = spawn_agent(&env, window(0.0), stop)
        .await
        .unwrap()
        .expect("second run");
    env.note_delivered(&second.delivered);
    assert_eq!(
        second.spool.recovered, first.spool.left_events,
        "the next start sends what the first one left: {:?}",
        second.spool
    );
    assert_eq!(second.spool.left_events, 0);
    let aggregated = env.run_aggregator_until_caught_up().await;
    eprintln!(
        "stopped during an outage: first run {} events, spool {:?}; next start {} events, spool {:?}; aggregator applied {} and dropped {} duplicates",
        first.events,
        first.spool,
        second.events,
        second.spool,
        aggregated.applied,
        aggregated.duplicates
    );
    assert_eq!(aggregated.applied, WINDOW_EVENTS);
    assert_totals_exact(&env, &small_cluster(&env.config.cluster)).await;
}

/// A broker of the test's own, and an environment on it with short delivery timeouts.
async fn start() -> (OwnBroker, TestEnv) {
    // The agent's warnings (delivery failures, recovery) show with a failure; GPUBILL_LOG for more.
    let filter = std::env::var("GPUBILL_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
    let broker = OwnBroker::start().await;
    let env = TestEnv::with_settings(&[
        ("GPUBILL_KAFKA_BROKERS", &broker.address()),
        ("GPUBILL_KAFKA_MESSAGE_TIMEOUT_MS", MESSAGE_TIMEOUT_MS),
        ("GPUBILL_AGENT_RETRY_INITIAL_MS", "100"),
        ("GPUBILL_AGENT_RETRY_MAX_MS", "500"),
    ])
    .await;
    (broker, env)
}

/// Two hours of the small cluster.
fn window(speed: f64) -> RunWindow {
    RunWindow {
        from: at("2026-11-10T00:00:00Z"),
        until: Some(at("2026-11-10T02:00:00Z")),
        speed,
    }
}

fn spawn_agent(
    env: &TestEnv,
    window: RunWindow,
    stop: Shutdown,
) -> JoinHandle<Result<AgentReport, gpubill_agent::AgentError>> {
    let (settings, cluster) = (
        env.config.settings.clone(),
        small_cluster(&env.config.cluster),
    );
    tokio::spawn(async move {
        gpubill_agent::run(
            &settings.kafka,
            &settings.agent,
            &cluster,
            None,
            window,
            stop,
        )
        .await
    })
}

/// Per tenant: GPU-seconds from the cluster and the window, exactly; the amount is GPU-seconds ×
/// list price (2.49 EUR per GPU-hour), which the ledger keeps unrounded and an invoice line
/// rounds half-even to the cent. Computed independently of the rating code.
async fn assert_totals_exact(env: &TestEnv, cluster: &Cluster) {
    let window = window(0.0);
    let mut gpu_millis: BTreeMap<String, i128> = BTreeMap::new();
    for allocation in &cluster.allocations {
        let start = allocation.started_at.max(window.from);
        let millis = (window.until.unwrap() - start).num_milliseconds() as i128;
        *gpu_millis.entry(allocation.tenant.clone()).or_default() +=
            millis * allocation.gpus.len() as i128;
    }
    assert_eq!(gpu_millis["mistral-lab"], 14_400_000);
    let expected: BTreeMap<String, (Decimal, String)> = gpu_millis
        .iter()
        .map(|(tenant, millis)| {
            (
                tenant.clone(),
                (
                    Decimal::from_i128_with_scale(*millis, 3),
                    cents(div_round_half_even(millis * 249, 3_600_000)),
                ),
            )
        })
        .collect();
    let billed: BTreeMap<String, (Decimal, String)> = ledger_totals(env)
        .await
        .into_iter()
        .map(|(tenant, (seconds, amount))| {
            let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
            (tenant, (seconds, format!("{rounded:.2}")))
        })
        .collect();
    assert_eq!(billed, expected);
}

/// Waits until the broker holds some of the agent's events, so that the outage cuts a flowing
/// stream. (Tansu 0.6 reports a partition's high watermark as the base offset of its last record
/// batch, so a watermark above 0 means at least two batches.)
async fn wait_until_stored(env: &TestEnv) {
    let kafka = env.config.settings.kafka.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer =
            gpubill_platform::kafka::client_config(&kafka, "gpubill-test-watermarks")
                .create()
                .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stored: i64 = (0..kafka.partitions)
                .map(|partition| {
                    consumer
                        .fetch_watermarks(&kafka.usage_topic, partition, Duration::from_secs(5))
                        .map_or(0, |(_, high)| high)
                })
                .sum();
            if stored > 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the agent's events never reached the broker"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
}
