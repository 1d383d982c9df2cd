//! Several aggregator instances (real child processes) share a topic of 6 partitions. One is
//! killed (`kill -9`) and another added while events flow: the dead one's partitions are taken
//! over within the lease bound, the newcomer gets its share, and every event is applied exactly
//! once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use gpubill_platform::config::{AllocationSpec, Cluster, NodeSpec};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{TestEnv, assert_same_ledger, at, ledger_fingerprint, meter_cluster};

const LEASE_SECONDS: u64 = 2;

const SETTINGS: [(&str, &str); 3] = [
    ("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "200"),
    ("GPUBILL_AGGREGATOR_BATCH_MAX_WAIT_MS", "20"),
    ("GPUBILL_AGGREGATOR_LEASE_SECONDS", "2"),
];

/// Twelve one-GPU allocations on two nodes, so the allocation-keyed events spread over all
/// partitions.
fn wide_cluster(base: &Cluster) -> Cluster {
    let node = |id: &str| NodeSpec {
        id: id.into(),
        sku: "H100-SXM5-80GB".into(),
        gpus: 8,
        pod: "pod-01".into(),
        gpu_uuids: Vec::new(),
        mig: false,
    };
    Cluster {
        tenants: base.tenants.clone(),
        nodes: vec![node("node-001"), node("node-002")],
        allocations: (0..12u8)
            .map(|index| AllocationSpec {
                id: format!("wide-{index}"),
                tenant: base.tenants[usize::from(index) % base.tenants.len()]
                    .id
                    .clone(),
                node: if index < 8 { "node-001" } else { "node-002" }.into(),
                gpus: vec![index % 8],
                started_at: at("2026-11-10T00:00:00Z"),
                price_class: gpubill_domain::PriceClass::OnDemand,
            })
            .collect(),
        reservations: Vec::new(),
    }
}

/// Owner of each partition whose lease is live, as the database sees it now.
async fn live_owners(env: &TestEnv) -> BTreeMap<i32, (String, i64)> {
    env.conn(|conn| {
        use diesel::prelude::*;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            partition: i32,
            #[diesel(sql_type = diesel::sql_types::Text)]
            owner: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            owner_epoch: i64,
        }
        diesel::sql_query(
            "SELECT partition, owner, owner_epoch FROM partition_leases WHERE expires_at > now()",
        )
        .load::<Row>(conn)
        .expect("leases")
        .into_iter()
        .map(|row| (row.partition, (row.owner, row.owner_epoch)))
        .collect()
    })
    .await
}

/// Waits until `done` holds for the live leases; returns how long that took and those leases.
async fn wait_for_owners(
    env: &TestEnv,
    what: &str,
    done: impl Fn(&BTreeMap<i32, (String, i64)>) -> bool,
) -> (Duration, BTreeMap<i32, (String, i64)>) {
    let started = Instant::now();
    loop {
        let owners = live_owners(env).await;
        if done(&owners) {
            return (started.elapsed(), owners);
        }
        assert!(
            started.elapsed() < Duration::from_secs(LEASE_SECONDS * 10),
            "{what}: not reached, leases are {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count_owned_by(owners: &BTreeMap<i32, (String, i64)>, instance: &str) -> usize {
    owners
        .values()
        .filter(|(owner, _)| owner == instance)
        .count()
}

/// Test 4. Models an aggregator host dying and a new one being added during the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_join_and_die_while_every_event_is_applied_exactly_once() {
    let env = TestEnv::with_settings(&SETTINGS).await;
    let cluster = wide_cluster(&env.config.cluster);
    let hours = [
        ("2026-11-10T00:00:00Z", "2026-11-10T01:00:00Z"),
        ("2026-11-10T01:00:00Z", "2026-11-10T02:00:00Z"),
        ("2026-11-10T02:00:00Z", "2026-11-10T03:00:00Z"),
    ];
    let mut events = meter_cluster(&env, &cluster, hours[0].0, hours[0].1).await;

    let mut first = env.spawn_aggregator_with(&[("GPUBILL_AGGREGATOR_INSTANCE_ID", "first")]);
    let _second = env.spawn_aggregator_with(&[("GPUBILL_AGGREGATOR_INSTANCE_ID", "second")]);
    wait_for_owners(&env, "two instances share the partitions", |owners| {
        owners.len() == 6 && count_owned_by(owners, "first") == 3
    })
    .await;

    let held_by_first: BTreeMap<i32, i64> = live_owners(&env)
        .await
        .into_iter()
        .filter(|(_, (owner, _))| owner == "first")
        .map(|(partition, (_, epoch))| (partition, epoch))
        .collect();

    // `first` dies mid-stream, without releasing anything.
    events += meter_cluster(&env, &cluster, hours[1].0, hours[1].1).await;
    assert!(env.lag().await > 0, "the kill must happen mid-stream");
    first.kill();
    let (takeover, _) = wait_for_owners(&env, "the survivor takes every partition", |owners| {
        owners.len() == 6 && count_owned_by(owners, "second") == 6
    })
    .await;
    eprintln!(
        "takeover of a killed instance's partitions: {takeover:.2?} (lease {LEASE_SECONDS} s)"
    );

    // A third instance joins and gets its share.
    let _third = env.spawn_aggregator_with(&[("GPUBILL_AGGREGATOR_INSTANCE_ID", "third")]);
    events += meter_cluster(&env, &cluster, hours[2].0, hours[2].1).await;
    let (rebalance, _) = wait_for_owners(&env, "the newcomer gets half", |owners| {
        owners.len() == 6 && count_owned_by(owners, "third") == 3
    })
    .await;
    eprintln!("rebalance onto a new instance: {rebalance:.2?}");
    env.wait_caught_up().await;

    // A lease being handed over or renewed late is briefly not live: read a moment when every
    // partition has its owner.
    let (_, owners) = wait_for_owners(&env, "every partition owned after catching up", |owners| {
        owners.len() == 6
    })
    .await;
    for (partition, epoch) in &held_by_first {
        let (owner, now) = &owners[partition];
        assert!(
            owner != "first" && now > epoch,
            "partition {partition} of the killed instance was taken over: {owners:?}"
        );
    }

    let reference = TestEnv::new().await;
    for (from, until) in hours {
        meter_cluster(&reference, &cluster, from, until).await;
    }
    reference.run_aggregator_until_caught_up().await;
    assert_same_ledger(
        &ledger_fingerprint(&env).await,
        &ledger_fingerprint(&reference).await,
        &format!("every one of {events} events applied exactly once"),
    );
    eprintln!("events: {events}, instances: 3, kills: 1, partitions: 6");
}
