//! Prometheus metrics after a real run: the aggregator's counters equal what the ledger holds and
//! what the dead-letter topic received, the agent's what it spooled, the scheduler's gauges what
//! runs, the API's requests by route template; `/metrics` is for admin keys, and `metrics.bind`
//! serves them without a key from a service that has no API.
//!
//! One test per process that records in-process (the recorder is the process's), so nothing else
//! adds to the counters it reads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{RunningApi, TestEnv, dead_letters, meter_two_hours, produce_poison};

/// One sample of the exposition: its name and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

/// Every sample of a Prometheus text exposition. Label values here hold no quote or comma.
fn parse(text: &str) -> BTreeMap<Series, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("label=value");
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            let series = Series {
                name: name.to_owned(),
                labels,
            };
            (series, value.parse::<f64>().expect("a number"))
        })
        .collect()
}

/// The value of `name` with exactly `labels`, 0 when absent.
fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let series = Series {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    samples.get(&series).copied().unwrap_or(0.0)
}

/// The sum of every series of `name`.
fn total(samples: &BTreeMap<Series, f64>, name: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| series.name == name)
        .map(|(_, value)| value)
        .sum()
}

async fn scrape(api: &RunningApi) -> BTreeMap<Series, f64> {
    let (status, body) = api.get_bytes("/metrics").await;
    assert_eq!(status, 200);
    parse(&String::from_utf8(body).unwrap())
}

async fn billed_events(env: &TestEnv) -> i64 {
    env.conn(|conn| {
        use diesel::prelude::*;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            events: i64,
        }
        diesel::sql_query(
            "SELECT coalesce(sum(last_seq - first_seq + 1), 0)::bigint AS events FROM usage_runs",
        )
        .get_result::<Count>(conn)
        .unwrap()
        .events
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_equal_the_ledger_after_a_pipeline_run() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;

    // Every event twice (the second run's are duplicates) and seven records of poison.
    let events = meter_two_hours(&env).await;
    assert_eq!(meter_two_hours(&env).await, events);
    let reasons = produce_poison(&env).await;
    let aggregator = env.start_aggregator();
    env.wait_caught_up().await;

    let billed = billed_events(&env).await;
    assert_eq!(billed as u64, events, "the ledger holds every event once");
    let letters = dead_letters(&env, reasons.len());
    assert_eq!(letters.len(), reasons.len());

    // The lag is measured every 10 s: wait for a measure taken after the catch-up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let samples = scrape(&api).await;
        let partitions = samples
            .keys()
            .filter(|series| series.name == "gpubill_aggregator_consumer_lag")
            .count();
        if partitions == 6 && total(&samples, "gpubill_aggregator_consumer_lag") == 0.0 {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "lag never measured at 0: {samples:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    aggregator.stop().await;

    let count = |name| value(&samples, name, &[]);
    assert_eq!(
        count("gpubill_aggregator_events_billed_total"),
        billed as f64
    );
    assert_eq!(count("gpubill_aggregator_duplicates_total"), events as f64);
    assert_eq!(
        count("gpubill_aggregator_records_total"),
        (2 * events) as f64 + reasons.len() as f64
    );
    for reason in &reasons {
        let on_topic = letters.iter().filter(|(r, _)| r == reason).count();
        assert_eq!(
            value(
                &samples,
                "gpubill_aggregator_dead_letters_total",
                &[("reason", reason)]
            ),
            on_topic as f64,
            "{reason}"
        );
    }
    assert_eq!(
        total(&samples, "gpubill_aggregator_dead_letters_total"),
        letters.len() as f64
    );
    let batches = count("gpubill_aggregator_batch_records_count");
    assert!(batches >= 1.0);
    assert_eq!(
        count("gpubill_aggregator_batch_records_sum"),
        count("gpubill_aggregator_records_total")
    );
    assert_eq!(
        count("gpubill_aggregator_commit_duration_seconds_count"),
        batches
    );
    assert!(count("gpubill_aggregator_lease_changes_total") >= 1.0);

    assert_eq!(
        count("gpubill_agent_events_spooled_total"),
        (2 * events) as f64
    );
    assert_eq!(count("gpubill_agent_spool_events"), 0.0, "all acknowledged");
    assert_eq!(count("gpubill_agent_delivery_failures_total"), 0.0);
    assert_eq!(count("gpubill_agent_spool_full_alarms_total"), 0.0);

    scheduler_and_requests(&api).await;
    api.stop().await;
}

/// The scheduler's gauges follow an allocation's life; the API counts requests by template.
async fn scheduler_and_requests(api: &RunningApi) {
    let (status, created) = api
        .send(
            "POST",
            "/v1/allocations",
            r#"{"tenant": "nordic-nlp", "sku": "H100-SXM5-80GB", "gpus": 2, "max_duration_seconds": 600}"#,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, verdict) = api
        .send(
            "POST",
            "/v1/quota/check",
            r#"{"tenant": "nordic-nlp", "sku": "H100-SXM5-80GB", "gpus": 72, "max_duration_seconds": 600}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["refusal"]["reason"], "concurrent_gpus", "{verdict}");
    let held = [("sku", "H100-SXM5-80GB"), ("class", "on_demand")];
    let samples = scrape(api).await;
    assert_eq!(
        value(&samples, "gpubill_scheduler_allocations_running", &[]),
        1.0
    );
    assert_eq!(
        value(&samples, "gpubill_scheduler_units_in_use", &held),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "gpubill_scheduler_allocations_total",
            &[("status", "running")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gpubill_scheduler_quota_refusals_total",
            &[("reason", "concurrent_gpus"), ("call", "check")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gpubill_scheduler_placement_duration_seconds_count",
            &[]
        ),
        1.0
    );

    let id = created["id"].as_str().unwrap();
    let (status, _) = api
        .send("POST", &format!("/v1/allocations/{id}/release"), "{}")
        .await;
    assert_eq!(status, 200);
    let (status, _) = api.get("/v1/allocations/not-an-allocation").await;
    assert_eq!(status, 404);
    let samples = scrape(api).await;
    assert_eq!(
        value(&samples, "gpubill_scheduler_allocations_running", &[]),
        0.0
    );
    assert_eq!(
        value(&samples, "gpubill_scheduler_units_in_use", &held),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "gpubill_scheduler_allocations_total",
            &[("status", "released")]
        ),
        1.0
    );
    let requests = |route: &str, method: &str, status: &str| {
        value(
            &samples,
            "gpubill_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/v1/allocations", "POST", "201"), 1.0);
    assert_eq!(requests("/v1/quota/check", "POST", "200"), 1.0);
    assert_eq!(requests("/v1/allocations/{id}/release", "POST", "200"), 1.0);
    assert_eq!(
        requests("/v1/allocations/{id}", "GET", "404"),
        1.0,
        "the template, not the id"
    );
    assert!(requests("/metrics", "GET", "200") >= 2.0);
    assert_eq!(
        value(
            &samples,
            "gpubill_http_request_duration_seconds_count",
            &[("route", "/v1/quota/check"), ("method", "POST")]
        ),
        1.0
    );

    // Only admin keys read them over the API.
    let (finance, _) = api.issue_key(r#"{"role": "finance"}"#).await;
    let reply = api.request("GET", "/metrics", Some(&finance), None).await;
    assert_eq!(reply.status, 403);
    let reply = api.request("GET", "/metrics", None, None).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_an_api_serves_its_metrics_on_the_metrics_bind() {
    let env = TestEnv::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = env.spawn_aggregator_with(&[("GPUBILL_METRICS_BIND", bind.as_str())]);
    // Records produced here, not metered: the agent would count into this process's recorder,
    // which the other test reads.
    let reasons = produce_poison(&env).await;
    env.wait_caught_up().await;

    let (status, content_type, text) = fetch(format!("http://{bind}/metrics")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let samples = parse(&text);
    assert_eq!(
        total(&samples, "gpubill_aggregator_dead_letters_total"),
        reasons.len() as f64
    );
    assert!(
        text.contains("# HELP gpubill_aggregator_dead_letters_total"),
        "{text}"
    );
    let (status, _, _) = fetch(format!("http://{bind}/v1/audit")).await;
    assert_eq!(status, 404, "nothing but /metrics there");
    child.kill();
}

/// GETs `url` without a key: status, content type and body.
async fn fetch(url: String) -> (u16, String, String) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent.get(&url).call().expect("the listener answers");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (response.status().as_u16(), content_type, body)
    })
    .await
    .unwrap()
}
