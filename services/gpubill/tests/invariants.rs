//! An invariant checker after a random workload: many streams delivered shuffled within each
//! allocation, with repeats, holes, conflicting copies and poison, from a seed (set
//! `INVARIANT_SEED` to reproduce a run). The ledger is then checked against totals recomputed
//! independently from the events that were sent: per tenant, ledger = Σ GPU-seconds × price; per
//! stream, the watermark is the highest contiguous seq, the gaps are exactly the seqs never sent,
//! and nothing is billed outside the stream's intervals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Numeric, Text, Timestamptz};
use gpubill_schema::event::{UsageDataV1, UsageEventV1};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use support::{TestEnv, at, poison_records};

/// A small deterministic generator (xorshift64*), so a seed replays the same workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Stream {
    tenant: &'static str,
    allocation: String,
    gpu: String,
    /// Per seq, the interval it covers (contiguous, random lengths).
    intervals: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn event(stream: &Stream, seq: usize, node: &str) -> UsageEventV1 {
    let (start, end) = stream.intervals[seq - 1];
    UsageEventV1::new(
        UsageDataV1 {
            tenant_id: stream.tenant.into(),
            allocation_id: stream.allocation.clone(),
            node_id: node.into(),
            gpu_uuid: stream.gpu.clone(),
            sku: "H100-SXM5-80GB".into(),
            price_class: gpubill_domain::PriceClass::OnDemand,
            seq: seq as u64,
            interval_start: start,
            interval_end: end,
        },
        end,
    )
}

#[derive(QueryableByName)]
struct TenantTotal {
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = Numeric)]
    gpu_seconds: Decimal,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

#[derive(QueryableByName)]
struct StreamRow {
    #[diesel(sql_type = Text)]
    allocation_id: String,
    #[diesel(sql_type = Text)]
    gpu_uuid: String,
    #[diesel(sql_type = BigInt)]
    watermark_seq: i64,
    #[diesel(sql_type = BigInt)]
    max_seq: i64,
    #[diesel(sql_type = Text)]
    gap_seqs: String,
    #[diesel(sql_type = Numeric)]
    billed_seconds: Decimal,
    #[diesel(sql_type = Timestamptz)]
    first_billed: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_billed: DateTime<Utc>,
}

/// Test 8. Models a messy fleet: disorder, repeats, holes, conflicting copies and poison, from a seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_workload_keeps_every_ledger_invariant() {
    let seed: u64 = std::env::var("INVARIANT_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    eprintln!("INVARIANT_SEED={seed}");
    let mut rng = Rng(seed.max(1));
    let env = TestEnv::with_settings(&[("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "300")]).await;

    // 3 tenants × 3 allocations × 2 GPUs, each stream 40..160 events of 1..60 s.
    let tenants = ["mistral-lab", "helix-bio", "nordic-nlp"];
    let mut streams = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        for a in 0..3 {
            for g in 0..2 {
                let mut at_time =
                    at("2026-11-15T00:00:00Z") + Duration::seconds(rng.below(600) as i64);
                let intervals = (0..40 + rng.below(120))
                    .map(|_| {
                        let start = at_time;
                        at_time += Duration::milliseconds(1000 + rng.below(59_000) as i64);
                        (start, at_time)
                    })
                    .collect();
                streams.push(Stream {
                    tenant,
                    allocation: format!("inv-{t}-{a}"),
                    gpu: format!("GPU-inv-{t}-{a}-{g}"),
                    intervals,
                });
            }
        }
    }

    // Per allocation (one partition), the records in the order sent; what the test expects.
    let mut sent: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut delivered: BTreeMap<(String, String), BTreeSet<usize>> = BTreeMap::new();
    let (mut repeats, mut holes, mut conflicts) = (0, 0, 0);
    for stream in &streams {
        let key = (stream.allocation.clone(), stream.gpu.clone());
        let mut seqs: Vec<usize> = (1..=stream.intervals.len()).collect();
        // Holes: seqs never sent, but never the last so max_seq is known.
        seqs.retain(|seq| {
            *seq == stream.intervals.len() || !rng.chance(4) || {
                holes += 1;
                false
            }
        });
        // Local disorder: swap neighbours.
        for i in 1..seqs.len() {
            if rng.chance(15) {
                seqs.swap(i - 1, i);
            }
        }
        let records = sent.entry(stream.allocation.clone()).or_default();
        for &seq in &seqs {
            records.push(event(stream, seq, "node-001").encode());
            delivered.entry(key.clone()).or_default().insert(seq);
            if rng.chance(10) {
                repeats += 1;
                records.push(event(stream, seq, "node-001").encode());
            }
            if rng.chance(2) {
                // Same id and position, another node: a conflict, sent after the original.
                conflicts += 1;
                records.push(event(stream, seq, "node-999").encode());
            }
        }
    }
    let poison = poison_records();
    let mut records: Vec<(&str, Vec<u8>)> = Vec::new();
    for (allocation, payloads) in &sent {
        records.extend(payloads.iter().map(|p| (allocation.as_str(), p.clone())));
    }
    records.extend(poison.iter().map(|(key, payload)| (*key, payload.clone())));
    env.produce_raw(&records).await;
    let stats = env.run_aggregator_until_caught_up().await;
    let expected_events: usize = delivered.values().map(BTreeSet::len).sum();
    eprintln!(
        "streams {}, records {}, events {expected_events}, repeats {repeats}, holes {holes}, conflicts {conflicts}, poison {}",
        streams.len(),
        records.len(),
        poison.len()
    );
    assert_eq!(stats.applied as usize, expected_events);
    assert_eq!(stats.duplicates as usize, repeats);
    assert_eq!(stats.dead_lettered as usize, conflicts + poison.len());

    // Independent totals: exact milliseconds per tenant from the intervals sent.
    let mut millis: BTreeMap<&str, i64> = BTreeMap::new();
    for stream in &streams {
        for seq in &delivered[&(stream.allocation.clone(), stream.gpu.clone())] {
            let (start, end) = stream.intervals[seq - 1];
            *millis.entry(stream.tenant).or_default() += (end - start).num_milliseconds();
        }
    }
    let totals: Vec<TenantTotal> = env
        .conn(|conn| {
            diesel::sql_query(
                "SELECT tenant_id, sum(gpu_seconds) AS gpu_seconds, sum(amount) AS amount \
                 FROM ledger_entries GROUP BY tenant_id ORDER BY tenant_id",
            )
            .load(conn)
            .unwrap()
        })
        .await;
    assert_eq!(totals.len(), tenants.len());
    let price = Decimal::new(249, 2);
    for total in totals {
        let seconds = Decimal::new(millis[total.tenant_id.as_str()], 3);
        assert_eq!(
            total.gpu_seconds, seconds,
            "{} GPU-seconds",
            total.tenant_id
        );
        let amount = seconds * price / Decimal::from(3600);
        assert!(
            (total.amount - amount).abs() < Decimal::new(1, 12),
            "{}: ledger {} vs recomputed {amount}",
            total.tenant_id,
            total.amount
        );
    }

    // Per stream: watermark, gaps and billed time match what was sent.
    let rows: Vec<StreamRow> = env
        .conn(|conn| {
            diesel::sql_query(
                "SELECT s.allocation_id, s.gpu_uuid, s.watermark_seq, s.max_seq, \
                        coalesce((SELECT string_agg(g.first_seq || '-' || g.last_seq, ',' ORDER BY g.first_seq) \
                                  FROM usage_gaps g WHERE (g.allocation_id, g.gpu_uuid) = (s.allocation_id, s.gpu_uuid)), '') AS gap_seqs, \
                        r.billed_seconds, r.first_billed, r.last_billed \
                 FROM usage_streams s JOIN ( \
                     SELECT allocation_id, gpu_uuid, sum(gpu_seconds) AS billed_seconds, \
                            min(segment_start) AS first_billed, max(segment_end) AS last_billed \
                     FROM rated_usage GROUP BY allocation_id, gpu_uuid) r USING (allocation_id, gpu_uuid)",
            )
            .load(conn)
            .unwrap()
        })
        .await;
    assert_eq!(rows.len(), streams.len());
    for row in rows {
        let stream = streams
            .iter()
            .find(|s| s.allocation == row.allocation_id && s.gpu == row.gpu_uuid)
            .unwrap();
        let seqs = &delivered[&(row.allocation_id.clone(), row.gpu_uuid.clone())];
        let max = *seqs.iter().next_back().unwrap();
        let contiguous = (1..)
            .take_while(|seq| seqs.contains(seq))
            .last()
            .unwrap_or(0);
        assert_eq!(row.max_seq as usize, max, "{}", row.gpu_uuid);
        assert_eq!(row.watermark_seq as usize, contiguous, "{}", row.gpu_uuid);
        let mut expected_gaps = Vec::new();
        let mut seq = 1;
        while seq < max {
            if seqs.contains(&seq) {
                seq += 1;
                continue;
            }
            let first = seq;
            while !seqs.contains(&seq) {
                seq += 1;
            }
            expected_gaps.push(format!("{first}-{}", seq - 1));
        }
        assert_eq!(row.gap_seqs, expected_gaps.join(","), "{}", row.gpu_uuid);
        let sent_millis: i64 = seqs
            .iter()
            .map(|seq| {
                let (start, end) = stream.intervals[seq - 1];
                (end - start).num_milliseconds()
            })
            .sum();
        assert_eq!(
            row.billed_seconds,
            Decimal::new(sent_millis, 3),
            "{}",
            row.gpu_uuid
        );
        let first_sent = stream.intervals[*seqs.iter().next().unwrap() - 1].0;
        let last_sent = stream.intervals[max - 1].1;
        assert!(
            row.first_billed >= first_sent && row.last_billed <= last_sent,
            "{} billed outside its intervals",
            row.gpu_uuid
        );
    }
}
