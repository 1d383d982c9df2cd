//! The metering path end to end on the real broker and the real Postgres: events in, invoices out,
//! to the cent; bad records on the dead-letter topic; duplicates dropped; restarts harmless.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use chrono::{DateTime, Duration, Utc};
use gpubill_schema::event::{UsageDataV1, UsageEventV1, dead_letter_headers};
use rdkafka::Message;
use serde_json::Value;
use support::{
    TestEnv, at, cents, dead_letters, div_round_half_even, header, ledger_fingerprint, meter,
    meter_two_hours, produce_poison,
};

fn usage(
    tenant: &str,
    allocation: &str,
    gpu: &str,
    sku: &str,
    seq: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> UsageEventV1 {
    UsageEventV1::new(
        UsageDataV1 {
            tenant_id: tenant.into(),
            allocation_id: allocation.into(),
            node_id: "node-001".into(),
            gpu_uuid: gpu.into(),
            sku: sku.into(),
            price_class: gpubill_domain::PriceClass::OnDemand,
            seq,
            interval_start: start,
            interval_end: end,
        },
        end,
    )
}

/// What the test expects, in milliseconds of GPU time per (tenant, period, SKU).
#[derive(Default)]
struct Expected {
    millis: std::collections::BTreeMap<(&'static str, &'static str, &'static str), i128>,
}

impl Expected {
    fn add(
        &mut self,
        tenant: &'static str,
        period: &'static str,
        sku: &'static str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        *self.millis.entry((tenant, period, sku)).or_default() +=
            (end - start).num_milliseconds() as i128;
    }

    /// Invoice total in cents: lines rounded half-even from exact milliseconds × price in cents,
    /// VAT rounded half-even on the subtotal: 20 % for the French tenant, none for the German
    /// one with a VAT number (reverse charge) or the Norwegian one (outside the EU). Integer
    /// arithmetic only.
    fn invoice(&self, tenant: &str, period: &str) -> (i128, i128, i128) {
        let price_cents = |sku: &str| match sku {
            "H100-SXM5-80GB" => 249,
            "L40S-48GB" => 99,
            other => panic!("no test price for {other}"),
        };
        let subtotal: i128 = self
            .millis
            .iter()
            .filter(|((t, p, _), _)| *t == tenant && *p == period)
            .map(|((_, _, sku), millis)| div_round_half_even(millis * price_cents(sku), 3_600_000))
            .sum();
        let vat_percent = if tenant == "mistral-lab" { 20 } else { 0 };
        let vat = div_round_half_even(subtotal * vat_percent, 100);
        (subtotal, vat, subtotal + vat)
    }
}

/// Models a billing period with month and price boundaries inside intervals and invalid records
/// among good ones: invoices match hand computation to the cent, every bad record is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_are_exact_to_the_cent_and_bad_records_are_dead_lettered() {
    let env = TestEnv::new().await;
    let mut expected = Expected::default();
    let mut records: Vec<(&str, Vec<u8>)> = Vec::new();
    let h100 = "H100-SXM5-80GB";

    // mistral-lab: 10 s, 0.5 s and 9.5 s on GPU A; an interval across the October/November
    // boundary on GPU B; one hour of L40S on another allocation. mistral-lab is billed in Paris
    // months: its November starts at midnight in Paris, 23:00 UTC on 31 October.
    let a1 = [
        (1, at("2026-11-02T10:00:00Z"), at("2026-11-02T10:00:10Z")),
        (
            2,
            at("2026-11-02T10:00:10Z"),
            at("2026-11-02T10:00:10.500Z"),
        ),
        (
            3,
            at("2026-11-02T10:00:10.500Z"),
            at("2026-11-02T10:00:20Z"),
        ),
    ];
    for (seq, start, end) in a1 {
        records.push((
            "m-1",
            usage("mistral-lab", "m-1", "GPU-A", h100, seq, start, end).encode(),
        ));
        expected.add("mistral-lab", "2026-11", h100, start, end);
    }
    records.push((
        "m-1",
        usage(
            "mistral-lab",
            "m-1",
            "GPU-B",
            h100,
            1,
            at("2026-10-31T22:59:55Z"),
            at("2026-10-31T23:00:05Z"),
        )
        .encode(),
    ));
    expected.add(
        "mistral-lab",
        "2026-10",
        h100,
        at("2026-10-31T22:59:55Z"),
        at("2026-10-31T23:00:00Z"),
    );
    expected.add(
        "mistral-lab",
        "2026-11",
        h100,
        at("2026-10-31T23:00:00Z"),
        at("2026-10-31T23:00:05Z"),
    );
    records.push((
        "m-2",
        usage(
            "mistral-lab",
            "m-2",
            "GPU-C",
            "L40S-48GB",
            1,
            at("2026-11-03T00:00:00Z"),
            at("2026-11-03T01:00:00Z"),
        )
        .encode(),
    ));
    expected.add(
        "mistral-lab",
        "2026-11",
        "L40S-48GB",
        at("2026-11-03T00:00:00Z"),
        at("2026-11-03T01:00:00Z"),
    );

    // helix-bio: 8 GPUs × 100 intervals of 7.25 s.
    for gpu in 0..8 {
        let gpu_uuid: &'static str = Box::leak(format!("GPU-H{gpu}").into_boxed_str());
        for seq in 1..=100u64 {
            let start =
                at("2026-11-05T08:00:00Z") + Duration::milliseconds(7250 * (seq as i64 - 1));
            let end = start + Duration::milliseconds(7250);
            records.push((
                "h-1",
                usage("helix-bio", "h-1", gpu_uuid, h100, seq, start, end).encode(),
            ));
            expected.add("helix-bio", "2026-11", h100, start, end);
        }
    }

    // One duplicate (the first event again), one malformed record, one unknown tenant.
    let duplicate = records[0].1.clone();
    records.push(("m-1", duplicate));
    let malformed =
        br#"{"specversion":"1.0","type":"gpubill.gpu.usage.v1","data":{"tenant_id":"mistral-lab""#
            .to_vec();
    records.push(("m-1", malformed.clone()));
    records.push((
        "x-1",
        usage(
            "nobody",
            "x-1",
            "GPU-X",
            h100,
            1,
            at("2026-11-02T10:00:00Z"),
            at("2026-11-02T10:00:10Z"),
        )
        .encode(),
    ));

    env.produce_raw(&records).await;
    let aggregator = env.start_aggregator();
    env.wait_caught_up().await;
    let api = env.start_api().await;

    for (tenant, period) in [
        ("mistral-lab", "2026-11"),
        ("mistral-lab", "2026-10"),
        ("helix-bio", "2026-11"),
    ] {
        let (status, invoice) = api
            .get(&format!(
                "/v1/tenants/{tenant}/invoices/draft?period={period}"
            ))
            .await;
        assert_eq!(status, 200, "{invoice}");
        let (subtotal, vat, total) = expected.invoice(tenant, period);
        assert_eq!(
            invoice["net_total"],
            Value::from(cents(subtotal)),
            "{tenant} {period}: {invoice}"
        );
        assert_eq!(
            invoice["vat_total"],
            Value::from(cents(vat)),
            "{tenant} {period}: {invoice}"
        );
        assert_eq!(
            invoice["total"],
            Value::from(cents(total)),
            "{tenant} {period}: {invoice}"
        );
        assert_eq!(invoice["status"], "draft");
    }
    // The figures themselves, so a wrong expectation cannot hide behind a matching wrong result.
    assert_eq!(expected.invoice("helix-bio", "2026-11"), (401, 0, 401));
    let (_, mistral) = api
        .get("/v1/tenants/mistral-lab/invoices/draft?period=2026-11")
        .await;
    assert_eq!(mistral["lines"][0]["sku"], "H100-SXM5-80GB");
    assert_eq!(mistral["lines"][0]["gpu_seconds"], "25");
    assert_eq!(mistral["lines"][0]["amount"], "0.02");
    assert_eq!(mistral["lines"][1]["quantity_gpu_hours"], "1.000000");
    assert_eq!(mistral["lines"][1]["amount"], "0.99");
    assert_eq!(mistral["total"], "1.21");

    // Usage over a window that cuts two intervals: 5 s + 0.5 s + 4.5 s.
    let (status, usage) = api
        .get("/v1/tenants/mistral-lab/usage?from=2026-11-02T10:00:05Z&to=2026-11-02T10:00:15Z")
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["skus"][0]["gpu_seconds"], "10");
    assert_eq!(usage["skus"][0]["amount"], "0.01");

    let stats = aggregator.stop().await;
    assert_eq!(stats.applied, 3 + 1 + 1 + 800);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.dead_lettered, 2);

    let dlq_topic = env.config.settings.kafka.dead_letter_topic.clone();
    let mut letters = env.read_topic(&dlq_topic, 2);
    assert_eq!(
        letters.len(),
        2,
        "exactly the two bad records are dead-lettered"
    );
    letters.sort_by_key(|m| header(m, dead_letter_headers::REASON));
    assert_eq!(
        header(&letters[0], dead_letter_headers::REASON).as_deref(),
        Some("invalid_json")
    );
    assert_eq!(
        letters[0].payload(),
        Some(malformed.as_slice()),
        "the original bytes are kept"
    );
    assert_eq!(letters[0].key(), Some(b"m-1".as_slice()));
    assert!(header(&letters[0], dead_letter_headers::SOURCE_OFFSET).is_some());
    assert_eq!(
        header(&letters[0], dead_letter_headers::SOURCE_TOPIC),
        Some(env.config.settings.kafka.usage_topic.clone())
    );
    assert_eq!(
        header(&letters[1], dead_letter_headers::REASON).as_deref(),
        Some("unknown_tenant")
    );
    api.stop().await;
}

/// Models a graceful aggregator restart (deploy) in the middle of a stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_aggregator_mid_stream_leaves_the_same_ledger_as_an_uninterrupted_run() {
    let small_batches = [
        ("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "20"),
        ("GPUBILL_AGGREGATOR_BATCH_MAX_WAIT_MS", "20"),
    ];
    let interrupted = TestEnv::with_settings(&small_batches).await;
    let uninterrupted = TestEnv::with_settings(&small_batches).await;
    let events = meter_two_hours(&interrupted).await;
    assert_eq!(events, meter_two_hours(&uninterrupted).await);
    assert_eq!(events, 2 * 720 + 540);

    let first = interrupted.start_aggregator();
    while first.stats.snapshot().applied < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let before_restart = first.stop().await;
    let lag_at_restart = interrupted.lag().await;
    assert!(
        lag_at_restart > 0,
        "the aggregator must stop mid-stream (it had applied {})",
        before_restart.applied
    );

    let after_restart = interrupted.run_aggregator_until_caught_up().await;
    assert_eq!(
        after_restart.duplicates, 0,
        "the restarted aggregator resumes at the offsets committed in Postgres"
    );
    assert_eq!(before_restart.applied + after_restart.applied, events);
    assert_eq!(
        uninterrupted.run_aggregator_until_caught_up().await.applied,
        events
    );

    let left = ledger_fingerprint(&interrupted).await;
    assert_eq!(
        left.len() as u64,
        events + 3 + 2 + 3,
        "every event, rated time per stream, one ledger line per tenant, one line per stream (no gaps)"
    );
    assert_eq!(left, ledger_fingerprint(&uninterrupted).await);
}

/// Test 2. Models duplicate delivery of every event (an agent re-sending its whole window): same totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_whole_topic_bills_nothing_twice() {
    let env = TestEnv::new().await;
    let events = meter_two_hours(&env).await;
    assert_eq!(env.run_aggregator_until_caught_up().await.applied, events);
    let before = ledger_fingerprint(&env).await;

    // The agent re-sends the same window (a restarted agent does exactly this).
    assert_eq!(meter_two_hours(&env).await, events);
    let replay = env.run_aggregator_until_caught_up().await;
    // An agent whose delivery failed produces again from the oldest unacknowledged event, so on
    // a loaded machine the log can hold a few records twice: every record read is a duplicate.
    assert_eq!(
        (replay.applied, replay.dead_lettered, replay.duplicates),
        (0, 0, replay.records)
    );
    assert!(replay.duplicates >= events, "{replay:?}");
    assert_eq!(ledger_fingerprint(&env).await, before);
}

/// Every tenant's November draft invoice, as the bytes the API sends.
async fn draft_invoices(api: &support::RunningApi) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for tenant in ["mistral-lab", "nordic-nlp", "helix-bio"] {
        let (status, body) = api
            .get_bytes(&format!(
                "/v1/tenants/{tenant}/invoices/draft?period=2026-11"
            ))
            .await;
        assert_eq!(status, 200);
        bodies.push(body);
    }
    bodies
}

/// Models an operator replaying the whole log (after a bug fix, or to audit): offsets reset to
/// zero with `gpubill replay`, and the aggregator re-reads everything. The ledger and the invoices
/// are byte-identical; the reset is refused while an aggregator runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resetting_offsets_to_zero_replays_into_byte_identical_ledger_and_invoices() {
    let env = TestEnv::new().await;
    let mut events = meter(&env, "2026-11-10T00:00:00Z", "2026-11-10T01:00:00Z").await;
    produce_poison(&env).await;
    events += meter(&env, "2026-11-10T01:00:00Z", "2026-11-10T02:00:00Z").await;
    let first = env.run_aggregator_until_caught_up().await;
    assert_eq!(first.applied, events);

    let api = env.start_api().await;
    let ledger_before = ledger_fingerprint(&env).await;
    let invoices_before = draft_invoices(&api).await;

    let running = env.start_aggregator();
    // Caught up already: wait instead until it holds its partitions.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while env
        .conn(|conn| {
            use diesel::prelude::*;
            diesel::sql_query("SELECT 1 FROM partition_leases WHERE expires_at > now()")
                .execute(conn)
                .unwrap()
        })
        .await
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the aggregator never took its partitions"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused = env.run_cli(&["replay"]).await;
    assert!(
        !refused.status.success(),
        "a reset under a running aggregator must be refused"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop every aggregator"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    running.stop().await;

    let reset = env.run_cli(&["replay"]).await;
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(env.committed().await.values().all(|next| *next == 0));
    let replay = env.run_aggregator_until_caught_up().await;
    assert_eq!(
        (replay.applied, replay.duplicates),
        // Records an agent produced twice (after a failed delivery) were duplicates already.
        (0, events + first.duplicates),
        "every event re-read, none billed again"
    );
    assert_eq!(ledger_fingerprint(&env).await, ledger_before);
    assert_eq!(
        draft_invoices(&api).await,
        invoices_before,
        "invoices byte for byte"
    );
    api.stop().await;
}

/// Models an agent whose events arrive with holes (a lost spool segment, a bug): the events
/// around a hole are billed, the hole is reported as missing usage with the time it should cover,
/// and the late events fill it without double billing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_are_reported_as_missing_usage_until_late_events_fill_them() {
    let env = TestEnv::new().await;
    let gpu = "GPU-gap-test";
    let start = at("2026-11-12T00:00:00Z");
    let event = |seq: u64| {
        let from = start + Duration::seconds(10 * (seq as i64 - 1));
        usage(
            "helix-bio",
            "gap-1",
            gpu,
            "H100-SXM5-80GB",
            seq,
            from,
            from + Duration::seconds(10),
        )
    };
    let produce = |seqs: &[u64]| {
        seqs.iter()
            .map(|seq| ("gap-1", event(*seq).encode()))
            .collect::<Vec<_>>()
    };
    env.produce_raw(&produce(&[1, 2, 5, 6, 9])).await;
    assert_eq!(env.run_aggregator_until_caught_up().await.applied, 5);

    let api = env.start_api().await;
    let (status, report) = api.get("/v1/missing-usage?older_than_seconds=0").await;
    assert_eq!(status, 200);
    let gaps: Vec<(i64, i64, String, String)> = report["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gap| {
            (
                gap["first_seq"].as_i64().unwrap(),
                gap["last_seq"].as_i64().unwrap(),
                gap["missing_from"].as_str().unwrap().to_owned(),
                gap["missing_until"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        gaps,
        [
            (
                3,
                4,
                "2026-11-12T00:00:20Z".into(),
                "2026-11-12T00:00:40Z".into()
            ),
            (
                7,
                8,
                "2026-11-12T00:01:00Z".into(),
                "2026-11-12T00:01:20Z".into()
            ),
        ]
    );
    assert_eq!(report["data"][0]["tenant_id"], "helix-bio");
    assert_eq!(report["data"][0]["missing_events"], 2);
    // Within the default grace time nothing is reported yet; an unknown tenant is a 404.
    let (_, fresh) = api.get("/v1/missing-usage").await;
    assert_eq!(fresh["data"].as_array().unwrap().len(), 0);
    let (status, _) = api.get("/v1/missing-usage?tenant=nobody").await;
    assert_eq!(status, 404);
    let cli = env
        .run_cli(&["missing-usage", "--older-than-seconds", "0"])
        .await;
    assert!(cli.status.success());
    assert!(
        String::from_utf8_lossy(&cli.stdout).contains("gap-1/GPU-gap-test seq 3..=4 (2 events)")
    );

    // The late events (and a repeat of an applied one) arrive: the gaps close, nothing twice.
    env.produce_raw(&produce(&[4, 3, 8, 7, 5])).await;
    let late = env.run_aggregator_until_caught_up().await;
    assert_eq!((late.applied, late.duplicates), (4, 1));
    let (_, closed) = api.get("/v1/missing-usage?older_than_seconds=0").await;
    assert_eq!(closed["data"].as_array().unwrap().len(), 0);
    let (_, usage_report) = api
        .get("/v1/tenants/helix-bio/usage?from=2026-11-12T00:00:00Z&to=2026-11-12T01:00:00Z")
        .await;
    assert_eq!(
        usage_report["skus"][0]["gpu_seconds"], "90",
        "9 events × 10 s, each once"
    );
    let watermark = env
        .conn(|conn| {
            use diesel::prelude::*;
            use gpubill_schema::schema::usage_streams::dsl::*;
            usage_streams
                .select((watermark_seq, max_seq))
                .first::<(i64, i64)>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(watermark, (9, 9));
    api.stop().await;
}

/// Models a topic recreated or a broker that lost data: resuming would skip records, so the
/// aggregator refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_resume_beyond_the_end_of_the_log() {
    // The ledger remembers offsets of a topic that has since been recreated (empty).
    let env = TestEnv::new().await;
    let topic = env.config.settings.kafka.usage_topic.clone();
    env.conn(move |conn| {
        use diesel::prelude::*;
        use gpubill_schema::schema::consumer_offsets;
        diesel::insert_into(consumer_offsets::table)
            .values((
                consumer_offsets::consumer.eq("aggregator"),
                consumer_offsets::topic.eq(&topic),
                consumer_offsets::partition.eq(0),
                consumer_offsets::next_offset.eq(5000),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
    let (_trigger, stop) = gpubill_platform::shutdown::channel();
    let stats = std::sync::Arc::new(gpubill_aggregator::AggregatorStats::default());
    let outcome = gpubill_aggregator::run(&env.config, env.pool.clone(), stats.clone(), stop).await;
    match outcome {
        Err(gpubill_aggregator::AggregatorError::OffsetsBeyondLog {
            partition, stored, ..
        }) => assert_eq!((partition, stored), (0, 5000)),
        other => panic!("expected OffsetsBeyondLog, got {other:?}"),
    }
    assert_eq!(stats.snapshot().records, 0);
}

/// Test 7. Models poison messages interleaved with good ones on one partition: the partition keeps
/// flowing and every poison message is on the dead-letter topic with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_between_good_ones_never_stop_the_partition() {
    let env = TestEnv::new().await;
    let reference = TestEnv::new().await;
    // Good records, poison, more good records, all on allocation r-1's partition among others.
    let mut events = meter(&env, "2026-11-10T00:00:00Z", "2026-11-10T01:00:00Z").await;
    let reasons = produce_poison(&env).await;
    events += meter(&env, "2026-11-10T01:00:00Z", "2026-11-10T02:00:00Z").await;
    assert_eq!(meter_two_hours(&reference).await, events);

    for target in [&env, &reference] {
        target.run_aggregator_until_caught_up().await;
    }
    assert_eq!(
        ledger_fingerprint(&env).await,
        ledger_fingerprint(&reference).await,
        "every good record is billed, as without poison"
    );
    let letters = dead_letters(&env, reasons.len());
    let mut got: Vec<&str> = letters.iter().map(|(reason, _)| reason.as_str()).collect();
    let mut want = reasons.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(
        got, want,
        "every poison record is on the dead-letter topic with its reason"
    );
}

/// Test 2. Models a used event id arriving with a different payload: rejected as `conflict`, zero writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_id_with_another_payload_is_a_conflict_and_writes_nothing() {
    let env = TestEnv::new().await;
    let h100 = "H100-SXM5-80GB";
    let original = usage(
        "mistral-lab",
        "c-1",
        "GPU-C",
        h100,
        1,
        at("2026-11-02T10:00:00Z"),
        at("2026-11-02T10:00:10Z"),
    );
    env.produce_raw(&[("c-1", original.encode())]).await;
    env.run_aggregator_until_caught_up().await;
    let before = ledger_fingerprint(&env).await;

    // Same id, ten more seconds; and the original again.
    let mut inflated = original.clone();
    inflated.data.interval_end = at("2026-11-02T10:00:20Z");
    env.produce_raw(&[("c-1", inflated.encode()), ("c-1", original.encode())])
        .await;
    let stats = env.run_aggregator_until_caught_up().await;
    assert_eq!(
        (stats.applied, stats.duplicates, stats.dead_lettered),
        (0, 1, 1)
    );
    assert_eq!(
        ledger_fingerprint(&env).await,
        before,
        "a conflict writes nothing"
    );
    let letters = dead_letters(&env, 1);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].0, "conflict");
}

/// Models two allocations reporting the same GPU for the same time: the second is dead-lettered as
/// `overlapping_interval`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_metered_twice_for_the_same_time_is_rejected_as_overlapping() {
    let env = TestEnv::new().await;
    let h100 = "H100-SXM5-80GB";
    let first = usage(
        "mistral-lab",
        "o-1",
        "GPU-O",
        h100,
        1,
        at("2026-11-02T10:00:00Z"),
        at("2026-11-02T10:00:10Z"),
    );
    let second = usage(
        "helix-bio",
        "o-2",
        "GPU-O",
        h100,
        1,
        at("2026-11-02T10:00:05Z"),
        at("2026-11-02T10:00:15Z"),
    );
    let later = usage(
        "helix-bio",
        "o-2",
        "GPU-O",
        h100,
        2,
        at("2026-11-02T10:00:20Z"),
        at("2026-11-02T10:00:30Z"),
    );
    env.produce_raw(&[("o-1", first.encode())]).await;
    let aggregator = env.start_aggregator();
    env.wait_caught_up().await;
    env.produce_raw(&[("o-2", second.encode()), ("o-2", later.encode())])
        .await;
    env.wait_caught_up().await;
    let stats = aggregator.stop().await;
    assert_eq!((stats.applied, stats.dead_lettered), (2, 1));
    let letters = dead_letters(&env, 1);
    assert_eq!(letters[0].0, "overlapping_interval");
}

/// Models a node whose GPUs are sold three ways: one allocation on demand, one as spot, one on a
/// reservation, metered by the real agent, plus a record with a class nobody sells. Each class is
/// rated at its own price from the price book and kept apart in runs, segments and postings; the
/// unknown class is dead-lettered with a reason that names the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_price_class_is_rated_at_its_own_price_and_booked_apart() {
    use diesel::RunQueryDsl;
    use gpubill_domain::PriceClass;
    use gpubill_platform::config::AllocationSpec;

    let env = TestEnv::new().await;
    // r-1: mistral-lab, GPUs 0 and 1 from 00:00, on demand; r-2: nordic-nlp, GPU 2 from 00:30.
    let mut cluster = support::small_cluster(&env.config.cluster);
    cluster.allocations[1].price_class = PriceClass::Spot;
    cluster.allocations.push(AllocationSpec {
        id: "r-3".into(),
        tenant: "helix-bio".into(),
        node: "node-001".into(),
        gpus: vec![3],
        started_at: at("2026-11-10T00:00:00Z"),
        price_class: PriceClass::Reserved,
    });
    let events = support::meter_cluster(
        &env,
        &cluster,
        "2026-11-10T00:00:00Z",
        "2026-11-10T01:00:00Z",
    )
    .await;
    assert_eq!(events, 2 * 360 + 180 + 360);
    let mut unknown_class: Value = serde_json::from_slice(
        &usage(
            "mistral-lab",
            "r-9",
            "GPU-9",
            "H100-SXM5-80GB",
            1,
            at("2026-11-10T00:00:00Z"),
            at("2026-11-10T00:00:10Z"),
        )
        .encode(),
    )
    .unwrap();
    unknown_class["data"]["price_class"] = "preemptible".into();
    env.produce_raw(&[("r-9", serde_json::to_vec(&unknown_class).unwrap())])
        .await;
    let stats = env.run_aggregator_until_caught_up().await;
    assert_eq!((stats.applied, stats.dead_lettered), (events, 1));

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Booked {
        #[diesel(sql_type = diesel::sql_types::Text)]
        tenant_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        price_class: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        price: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        gpu_seconds: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        amount: String,
    }
    let query = |table: &str| {
        format!(
            "SELECT tenant_id, price_class, price_per_gpu_hour::text AS price, \
                    trim_scale(sum(gpu_seconds))::text AS gpu_seconds, \
                    round(sum(amount), 6)::text AS amount \
             FROM {table} GROUP BY tenant_id, price_class, price_per_gpu_hour ORDER BY 1, 2"
        )
    };
    let (postings, segments, run_classes) = env
        .conn(move |conn| {
            let postings: Vec<Booked> = diesel::sql_query(query("ledger_entries"))
                .load(conn)
                .unwrap();
            let segments: Vec<Booked> = diesel::sql_query(query("rated_usage")).load(conn).unwrap();
            #[derive(diesel::QueryableByName)]
            struct RunClass {
                #[diesel(sql_type = diesel::sql_types::Text)]
                line: String,
            }
            let run_classes: Vec<String> = diesel::sql_query(
                "SELECT DISTINCT allocation_id || ':' || price_class AS line FROM usage_runs ORDER BY 1",
            )
            .load::<RunClass>(conn)
            .unwrap()
            .into_iter()
            .map(|row| row.line)
            .collect();
            (postings, segments, run_classes)
        })
        .await;
    let booked = |tenant: &str, class: &str, price: &str, seconds: &str, amount: &str| Booked {
        tenant_id: tenant.into(),
        price_class: class.into(),
        price: price.into(),
        gpu_seconds: seconds.into(),
        amount: amount.into(),
    };
    // Two GPU-hours on demand at 2.49, half an hour of spot at 1.25, one reserved hour at 1.89.
    let expected = [
        booked("helix-bio", "reserved", "1.89", "3600", "1.890000"),
        booked("mistral-lab", "on_demand", "2.49", "7200", "4.980000"),
        booked("nordic-nlp", "spot", "1.25", "1800", "0.625000"),
    ];
    assert_eq!(postings, expected);
    assert_eq!(segments, expected);
    assert_eq!(run_classes, ["r-1:on_demand", "r-2:spot", "r-3:reserved"]);

    let dlq_topic = env.config.settings.kafka.dead_letter_topic.clone();
    let letters = env.read_topic(&dlq_topic, 1);
    assert_eq!(letters.len(), 1);
    assert_eq!(
        header(&letters[0], dead_letter_headers::REASON).as_deref(),
        Some("invalid_field")
    );
    let detail = header(&letters[0], dead_letter_headers::DETAIL).unwrap_or_default();
    assert!(
        detail.contains("data.price_class") && detail.contains("preemptible"),
        "{detail}"
    );
}
