//! Invariants the database itself enforces, whatever the code does: the ledger is append-only and
//! consumed offsets never move backwards, and a commit is fenced by its partitions' leases; a
//! ledger written before usage runs is carried over, digests and all; and price classes, once
//! spot or reserved usage is booked, cannot be migrated away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use diesel::RunQueryDsl;
use gpubill_aggregator::AggregatorError;
use gpubill_aggregator::batch::Batch;
use gpubill_aggregator::lease::{Member, Owned, heartbeat};
use gpubill_aggregator::store::{apply_batch, load_offsets};
use std::collections::BTreeMap;
use support::TestEnv;

/// Appends one posting for `period` (a date), straight in SQL, as any client could.
fn insert_entry(conn: &mut diesel::PgConnection, period: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO ledger_entries (batch_id, tenant_id, sku, period, price_per_gpu_hour, gpu_seconds, amount, segment_count) \
         VALUES (gen_random_uuid(), 'mistral-lab', 'H100-SXM5-80GB', $1::date, 2.49, 10, 0.0069, 1)",
    )
    .bind::<diesel::sql_types::Text, _>(period)
    .execute(conn)
}

/// Models a buggy or malicious client editing the ledger: the database refuses every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_entries_cannot_be_changed_or_removed() {
    let env = TestEnv::new().await;
    let outcomes = env
        .conn(|conn| {
            insert_entry(conn, "2026-11-01").expect("append");
            [
                "UPDATE ledger_entries SET amount = 0",
                "DELETE FROM ledger_entries",
                "TRUNCATE ledger_entries",
            ]
            .map(|statement| {
                diesel::sql_query(statement)
                    .execute(conn)
                    .map_err(|e| e.to_string())
            })
        })
        .await;
    for outcome in outcomes {
        let error = outcome.expect_err("the database must refuse");
        assert!(error.contains("append-only"), "{error}");
    }
    let bad_period = env.conn(|conn| insert_entry(conn, "2026-11-02")).await;
    assert!(bad_period.is_err(), "a period is the first day of a month");
}

/// Models a second writer committing stale offsets: the database refuses to move them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_only_move_forward() {
    let env = TestEnv::new().await;
    let topic = env.config.settings.kafka.usage_topic.clone();
    let result = env
        .conn(move |conn| {
            let batch_at = |next: i64| Batch {
                next_offsets: BTreeMap::from([(3, next)]),
                ..Batch::default()
            };
            let member = member(&topic, "only", 10);
            let owned = heartbeat(conn, &member, &Owned::new()).expect("claim");
            apply_batch(conn, &member, &owned, &batch_at(100)).expect("first commit");
            apply_batch(conn, &member, &owned, &batch_at(100))
                .expect("same offset again is harmless");
            let backwards = apply_batch(conn, &member, &owned, &batch_at(42));
            (
                backwards,
                load_offsets(conn, "aggregator", &topic).expect("offsets"),
            )
        })
        .await;
    assert!(
        matches!(result.0, Err(AggregatorError::Invariant(_))),
        "{:?}",
        result.0
    );
    assert_eq!(result.1, BTreeMap::from([(3, 100)]));
}

fn member(topic: &str, instance_id: &str, lease_seconds: i64) -> Member {
    Member {
        consumer: "aggregator".into(),
        topic: topic.into(),
        instance_id: instance_id.into(),
        partitions: 6,
        lease_seconds,
    }
}

/// Models a paused instance (GC, network partition, long outage) whose partitions were taken
/// over: its commit is fenced by the lease epoch and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_lost_its_partitions_cannot_commit() {
    let env = TestEnv::new().await;
    let topic = env.config.settings.kafka.usage_topic.clone();
    let (paused_owned, taker_owned, fenced, offsets) = env
        .conn(move |conn| {
            let paused = member(&topic, "paused", 1);
            let taker = member(&topic, "taker", 1);
            let paused_owned = heartbeat(conn, &paused, &Owned::new()).expect("claim all");
            // The paused instance misses its heartbeats; its leases and liveness expire.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let taker_owned = heartbeat(conn, &taker, &Owned::new()).expect("take over");
            let batch = Batch {
                next_offsets: BTreeMap::from([(2, 500)]),
                ..Batch::default()
            };
            let fenced = apply_batch(conn, &paused, &paused_owned, &batch);
            let offsets = load_offsets(conn, "aggregator", &topic).expect("offsets");
            (paused_owned, taker_owned, fenced, offsets)
        })
        .await;
    assert_eq!(paused_owned.len(), 6, "alone, it owns every partition");
    assert_eq!(taker_owned.len(), 6, "the taker now owns them all");
    assert!(
        taker_owned.values().all(|epoch| *epoch == 2),
        "{taker_owned:?}"
    );
    assert!(
        matches!(fenced, Err(AggregatorError::Fenced { partition: 2, .. })),
        "{fenced:?}"
    );
    assert!(offsets.is_empty(), "nothing written: {offsets:?}");
}

/// Models two writers billing one GPU for overlapping time: the spans two allocations' streams
/// hold the GPU for may not overlap, and the exclusion constraint refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gpu_cannot_be_billed_twice_for_the_same_instant() {
    let env = TestEnv::new().await;
    let upsert = |allocation: &'static str, start: &'static str, end: &'static str| {
        move |conn: &mut diesel::PgConnection| {
            diesel::sql_query(
                "INSERT INTO usage_streams (allocation_id, gpu_uuid, tenant_id, watermark_seq, max_seq, first_start, last_end) \
                 VALUES ($1, 'GPU-1', 'mistral-lab', 1, 1, $2::timestamptz, $3::timestamptz) \
                 ON CONFLICT (allocation_id, gpu_uuid) DO UPDATE SET last_end = EXCLUDED.last_end",
            )
            .bind::<diesel::sql_types::Text, _>(allocation)
            .bind::<diesel::sql_types::Text, _>(start)
            .bind::<diesel::sql_types::Text, _>(end)
            .execute(conn)
            .map_err(|e| e.to_string())
        }
    };
    env.conn(upsert(
        "a-1",
        "2026-11-02T10:00:00Z",
        "2026-11-02T10:00:10Z",
    ))
    .await
    .expect("first span");
    env.conn(upsert(
        "a-1",
        "2026-11-02T10:00:00Z",
        "2026-11-02T10:00:20Z",
    ))
    .await
    .expect("a stream extends its own span");
    env.conn(upsert(
        "a-2",
        "2026-11-02T10:00:20Z",
        "2026-11-02T10:00:30Z",
    ))
    .await
    .expect("back to back is fine");
    for (start, end) in [
        ("2026-11-02T10:00:15Z", "2026-11-02T10:00:25Z"),
        ("2026-11-02T09:00:00Z", "2026-11-02T11:00:00Z"),
    ] {
        let overlap = env.conn(upsert("a-3", start, end)).await;
        assert!(
            overlap
                .expect_err("the database must refuse")
                .contains("usage_streams_no_overlap_per_gpu")
        );
    }
    let extended_into_a_2 = env
        .conn(upsert(
            "a-1",
            "2026-11-02T10:00:00Z",
            "2026-11-02T10:00:21Z",
        ))
        .await;
    assert!(
        extended_into_a_2.is_err(),
        "a stream cannot grow into another's span"
    );
}

/// Models a ledger written before usage runs existed (a row per event in `usage_events`) being
/// migrated: every event becomes a run of one whose digest is the one the aggregator computes for
/// the same event, so a copy arriving after the upgrade is still a duplicate, not a conflict; and
/// the migration reverts to the same events, ids included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stored_one_per_row_become_runs_with_the_aggregators_digests() {
    use chrono::{DateTime, Utc};
    use diesel_migrations::MigrationHarness;
    use gpubill_schema::MIGRATIONS;
    use gpubill_schema::event::{content_digest, usage_event_id};
    use rust_decimal::Decimal;

    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        first_seq: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last_seq: i64,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        event_digests: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        gpu_seconds: Decimal,
    }
    #[derive(diesel::QueryableByName)]
    struct Reverted {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        event_id: uuid::Uuid,
    }

    let env = TestEnv::new().await;
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    // (seq, start, end, GPU-seconds): whole seconds, a sub-second quantity, and one whose
    // quantity has trailing zeros in the database.
    let events = [
        (1, "2026-11-02T10:00:00Z", "2026-11-02T10:00:10Z", "10"),
        (2, "2026-11-02T10:00:10Z", "2026-11-02T10:00:10.25Z", "0.25"),
        (4, "2026-11-02T10:00:30Z", "2026-11-02T10:00:40Z", "10.000"),
    ];
    // Reverts every migration after the one that introduced usage runs' predecessor.
    let revert_to_before_runs = |conn: &mut diesel::PgConnection| loop {
        let applied = conn.applied_migrations().unwrap();
        let newest = applied
            .iter()
            .map(|version| version.to_string())
            .max()
            .unwrap();
        if newest.as_str() <= "20261124000005" {
            break;
        }
        conn.revert_last_migration(MIGRATIONS).unwrap();
    };
    let (runs, reverted) = env
        .conn(move |conn| {
            revert_to_before_runs(conn);
            for (seq, start, end, seconds) in events {
                diesel::sql_query(
                    "INSERT INTO usage_streams (allocation_id, gpu_uuid, tenant_id, watermark_seq, max_seq, first_start, last_end) \
                     VALUES ('m-1', 'GPU-M', 'mistral-lab', 2, 4, '2026-11-02T10:00:00Z', '2026-11-02T10:00:40Z') \
                     ON CONFLICT DO NOTHING",
                )
                .execute(conn)
                .unwrap();
                diesel::sql_query(
                    "INSERT INTO usage_events (allocation_id, gpu_uuid, seq, event_id, tenant_id, node_id, sku, \
                         interval_start, interval_end, gpu_seconds, source_partition, source_offset) \
                     VALUES ('m-1', 'GPU-M', $1, $2, 'mistral-lab', 'node-001', 'H100-SXM5-80GB', $3, $4, $5::numeric, 0, $1)",
                )
                .bind::<diesel::sql_types::BigInt, _>(seq)
                .bind::<diesel::sql_types::Uuid, _>(usage_event_id("m-1", "GPU-M", seq as u64))
                .bind::<diesel::sql_types::Timestamptz, _>(at(start))
                .bind::<diesel::sql_types::Timestamptz, _>(at(end))
                .bind::<diesel::sql_types::Text, _>(seconds)
                .execute(conn)
                .unwrap();
            }
            conn.run_pending_migrations(MIGRATIONS).unwrap();
            let runs: Vec<Stored> = diesel::sql_query(
                "SELECT first_seq, last_seq, event_digests, gpu_seconds FROM usage_runs ORDER BY first_seq",
            )
            .load(conn)
            .unwrap();
            revert_to_before_runs(conn);
            let reverted: Vec<Reverted> =
                diesel::sql_query("SELECT seq, event_id FROM usage_events ORDER BY seq")
                    .load(conn)
                    .unwrap();
            conn.run_pending_migrations(MIGRATIONS).unwrap();
            (runs, reverted)
        })
        .await;

    assert_eq!(runs.len(), events.len());
    for (run, (seq, start, end, seconds)) in runs.iter().zip(events) {
        assert_eq!((run.first_seq, run.last_seq), (seq, seq));
        let quantity: Decimal = seconds.parse().unwrap();
        assert_eq!(run.gpu_seconds, quantity);
        let expected = content_digest(
            usage_event_id("m-1", "GPU-M", seq as u64),
            "mistral-lab",
            "node-001",
            "H100-SXM5-80GB",
            // Every event stored before price classes was sold on demand.
            gpubill_domain::PriceClass::OnDemand,
            (at(start), at(end)),
            quantity,
        );
        assert_eq!(run.event_digests, expected, "seq {seq}");
    }
    let ids: Vec<(i64, uuid::Uuid)> = reverted.iter().map(|row| (row.seq, row.event_id)).collect();
    let expected: Vec<(i64, uuid::Uuid)> = events
        .iter()
        .map(|(seq, ..)| (*seq, usage_event_id("m-1", "GPU-M", *seq as u64)))
        .collect();
    assert_eq!(
        ids, expected,
        "reverting restores the events with their ids"
    );
}

/// Models an operator rolling the schema back past price classes once spot usage is booked: the
/// down migration refuses, since dropping the column would relabel that usage as on-demand, and
/// the refusal changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_classes_cannot_be_reverted_once_spot_usage_is_booked() {
    use diesel_migrations::MigrationHarness;
    use gpubill_schema::MIGRATIONS;

    let env = TestEnv::new().await;
    let (refused, newest, classes) = env
        .conn(|conn| {
            diesel::sql_query(
                "INSERT INTO ledger_entries (batch_id, tenant_id, sku, price_class, period, price_per_gpu_hour, gpu_seconds, amount, segment_count) \
                 VALUES (gen_random_uuid(), 'mistral-lab', 'H100-SXM5-80GB', 'spot', '2026-11-01', 1.25, 10, 0.0035, 1)",
            )
            .execute(conn)
            .unwrap();
            let newest = |conn: &mut diesel::PgConnection| {
                conn.applied_migrations()
                    .unwrap()
                    .iter()
                    .map(|version| version.to_string())
                    .max()
                    .unwrap()
            };
            // Later migrations first, down to the one that introduced classes.
            while newest(conn).as_str() > "20261124000008" {
                conn.revert_last_migration(MIGRATIONS).unwrap();
            }
            let refused = conn
                .revert_last_migration(MIGRATIONS)
                .map(|version| version.to_string())
                .map_err(|e| e.to_string());
            #[derive(diesel::QueryableByName)]
            struct Class {
                #[diesel(sql_type = diesel::sql_types::Text)]
                price_class: String,
            }
            let classes: Vec<String> =
                diesel::sql_query("SELECT price_class FROM ledger_entries")
                    .load::<Class>(conn)
                    .unwrap()
                    .into_iter()
                    .map(|row| row.price_class)
                    .collect();
            let newest = newest(conn);
            conn.run_pending_migrations(MIGRATIONS).unwrap();
            (refused, newest, classes)
        })
        .await;
    let error = refused.expect_err("the revert must be refused");
    assert!(
        error.contains("cannot be stored without its price class"),
        "{error}"
    );
    assert_eq!(newest, "20261124000008");
    assert_eq!(classes, ["spot"]);
}
