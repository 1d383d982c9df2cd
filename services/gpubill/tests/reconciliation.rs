//! Metering follows allocations: agents that follow the scheduler meter exactly what it
//! allocated, from each allocation's start to its end (the last interval cut there), MIG
//! instances as devices of their own; and reconciliation flags what was allocated but not metered
//! (an agent that was stopped) and what was metered but never allocated.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use chrono::{DateTime, Duration, DurationRound, Utc};
use gpubill_platform::shutdown;
use gpubill_schema::event::{UsageDataV1, UsageEventV1};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::{RunningApi, TestEnv};

/// How long the allocations run, on the wall clock.
const WINDOW_SECONDS: i64 = 8;

async fn allocate(api: &RunningApi, tenant: &str, sku: &str, gpus: u32, class: &str) -> Value {
    let body = json!({
        "tenant": tenant, "sku": sku, "gpus": gpus, "class": class,
        "max_duration_seconds": 3600,
    });
    let (status, allocation) = api.send("POST", "/v1/allocations", &body.to_string()).await;
    assert_eq!(status, 201, "{allocation}");
    allocation
}

fn nodes_of(allocation: &Value) -> BTreeSet<String> {
    allocation["placement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gpu| gpu["node"].as_str().unwrap().to_owned())
        .collect()
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// `(allocation, gpu, reason)` of a list of discrepancies.
fn flagged(list: &Value) -> BTreeSet<(String, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["allocation_id"].as_str().unwrap().to_owned(),
                d["gpu_uuid"].as_str().unwrap().to_owned(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Allocations through the API, one agent per node following the scheduler, one agent stopped
/// early; then a stray event for a GPU its allocation does not hold (dead-lettered), and the same
/// usage under an allocation nobody knows (billed under `unknown_allocations = "bill"`).
/// Reconciliation lists the stopped agent's GPUs as allocated but silent, the unknown
/// allocation's usage as metered but unallocated, and nothing else; the API and the CLI agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agents_gpus_are_allocated_but_silent_and_stray_usage_is_unallocated() {
    let env = TestEnv::with_settings(&[
        ("GPUBILL_AGENT_INTERVAL_SECONDS", "1"),
        ("GPUBILL_AGENT_SCHEDULER_POLL_MS", "200"),
        ("GPUBILL_SCHEDULER_RECONCILIATION_TOLERANCE_SECONDS", "2"),
    ])
    .await;
    let api = env.start_api().await;
    let from = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();

    // A whole node on demand, spot GPUs (elsewhere: the first node is full), and MIG instances of
    // two tenants.
    let whole = allocate(&api, "mistral-lab", "H100-SXM5-80GB", 8, "on_demand").await;
    let spot = allocate(&api, "nordic-nlp", "H100-SXM5-80GB", 2, "spot").await;
    let mig_a = allocate(&api, "mistral-lab", "H100-MIG-1g.10gb", 2, "on_demand").await;
    let mig_b = allocate(&api, "nordic-nlp", "H100-MIG-2g.20gb", 1, "on_demand").await;
    let allocations = [&whole, &spot, &mig_a, &mig_b];
    let silent_node = nodes_of(&spot).into_iter().next().unwrap();
    assert!(!nodes_of(&whole).contains(&silent_node));
    let nodes: BTreeSet<String> = allocations.iter().flat_map(|a| nodes_of(a)).collect();

    let release_at = from + Duration::seconds(WINDOW_SECONDS);
    let mut agents = Vec::new();
    // Dropping every trigger of an agent would stop it: they are kept until the end.
    let mut triggers = Vec::new();
    let mut silent_trigger = None;
    for node in &nodes {
        let mut settings = env.config.settings.agent.clone();
        settings.scheduler_url = format!("http://{}", api.address);
        settings.api_key = api.node_key(node).await;
        settings.spool_dir = settings.spool_dir.join(node);
        let kafka = env.config.settings.kafka.clone();
        let window = gpubill_agent::RunWindow {
            from,
            until: Some(release_at + Duration::seconds(3)),
            speed: 1.0,
        };
        let (trigger, stop) = shutdown::channel();
        if *node == silent_node {
            silent_trigger = Some(trigger.clone());
        }
        triggers.push(trigger);
        let node = node.clone();
        agents.push(tokio::spawn(async move {
            let source = gpubill_agent::AllocationSource::Scheduler { node: &node };
            gpubill_agent::run_source(&kafka, &settings, source, window, stop)
                .await
                .expect("agent run")
        }));
    }

    // The spot allocation's agent is stopped two seconds in: its GPUs stay allocated, unmetered.
    tokio::time::sleep(
        (from + Duration::seconds(2) - Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
    .await;
    silent_trigger.take().unwrap().trigger();
    tokio::time::sleep((release_at - Utc::now()).to_std().unwrap_or_default()).await;
    for allocation in allocations {
        let id = allocation["id"].as_str().unwrap();
        let (status, body) = api
            .send("POST", &format!("/v1/allocations/{id}/release"), "")
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for agent in agents {
        let report = agent.await.unwrap();
        env.note_delivered(&report.delivered);
    }

    // Usage for the spot allocation's id and tenant on a GPU it never held: refused. The same
    // usage under an allocation id nobody knows: billed (fixtures run with
    // `unknown_allocations = "bill"`), and flagged below.
    let stray_node = env
        .config
        .cluster
        .nodes
        .iter()
        .find(|n| {
            !n.mig
                && !nodes.contains(&n.id)
                && !env
                    .config
                    .cluster
                    .allocations
                    .iter()
                    .any(|a| a.node == n.id)
        })
        .unwrap();
    let stray_gpu = stray_node.gpu_uuid(5);
    let spot_id = spot["id"].as_str().unwrap().to_owned();
    let unknown_id = "placed-by-hand".to_owned();
    let stray = |allocation_id: &str| {
        UsageEventV1::new(
            UsageDataV1 {
                tenant_id: "nordic-nlp".into(),
                allocation_id: allocation_id.into(),
                node_id: stray_node.id.clone(),
                gpu_uuid: stray_gpu.clone(),
                sku: "H100-SXM5-80GB".into(),
                price_class: gpubill_domain::PriceClass::Spot,
                seq: 1,
                interval_start: from + Duration::seconds(1),
                interval_end: from + Duration::seconds(4),
            },
            from + Duration::seconds(4),
        )
    };
    env.produce_raw(&[(spot_id.as_str(), stray(&spot_id).encode())])
        .await;
    let stats = env.run_aggregator_until_caught_up().await;
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
    let letters = support::dead_letters(&env, 1);
    assert_eq!(letters[0].0, "gpu_not_allocated", "{letters:?}");
    env.produce_raw(&[(unknown_id.as_str(), stray(&unknown_id).encode())])
        .await;
    let stats = env.run_aggregator_until_caught_up().await;
    assert_eq!(stats.dead_lettered, 0, "{stats:?}");

    // Every metered stream of a live agent ends where its allocation ended: the last interval
    // is cut at the end, and nothing is metered past it.
    let mut devices = BTreeSet::new();
    for allocation in [&whole, &mig_a, &mig_b] {
        let id = allocation["id"].as_str().unwrap().to_owned();
        let (_, released) = api.get(&format!("/v1/allocations/{id}")).await;
        let (started_at, ended_at) = (at(&released["started_at"]), at(&released["ended_at"]));
        let streams: Vec<(String, DateTime<Utc>, DateTime<Utc>, rust_decimal::Decimal)> = {
            let id = id.clone();
            env.conn(move |conn| {
                use diesel::prelude::*;
                use gpubill_schema::schema::usage_runs::dsl::*;
                usage_runs
                    .filter(allocation_id.eq(id))
                    .group_by(gpu_uuid)
                    .select((
                        gpu_uuid,
                        diesel::dsl::min(run_start).assume_not_null(),
                        diesel::dsl::max(run_end).assume_not_null(),
                        diesel::dsl::sum(last_seq - first_seq + 1).assume_not_null(),
                    ))
                    .load(conn)
                    .unwrap()
            })
            .await
        };
        assert_eq!(
            streams.len(),
            allocation["placement"].as_array().unwrap().len()
        );
        for (device, first, last, events) in streams {
            assert_eq!((first, last), (started_at, ended_at), "{device}");
            let seconds = (ended_at - started_at).num_microseconds().unwrap();
            assert_eq!(
                events,
                rust_decimal::Decimal::from((seconds + 999_999) / 1_000_000),
                "{device}: one event a second"
            );
            devices.insert(device);
        }
    }
    // MIG instances are devices of their own, distinct even on a shared GPU.
    let mig_devices: Vec<&String> = devices
        .iter()
        .filter(|d| d.starts_with("MIG-GPU-"))
        .collect();
    assert_eq!(mig_devices.len(), 3, "{devices:?}");

    let since = (from - Duration::seconds(60)).format("%Y-%m-%dT%H:%M:%SZ");
    let (status, report) = api.get(&format!("/v1/reconciliation?since={since}")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["tolerance_seconds"], 2);
    assert_eq!(report["gpus_checked"], 8 + 2 + 2 + 1);
    let spot_gpus: BTreeSet<String> = spot["placement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gpu| gpu["gpu_uuid"].as_str().unwrap().to_owned())
        .collect();
    let silent = flagged(&report["allocated_but_silent"]);
    assert_eq!(
        silent
            .iter()
            .map(|(a, g, _)| (a.clone(), g.clone()))
            .collect::<BTreeSet<_>>(),
        spot_gpus
            .iter()
            .map(|g| (spot_id.clone(), g.clone()))
            .collect(),
        "{report:#}"
    );
    for entry in report["allocated_but_silent"].as_array().unwrap() {
        assert_eq!(entry["node"], silent_node.as_str());
        assert_eq!(entry["tenant"], "nordic-nlp");
        let missing: f64 = entry["missing_seconds"].as_str().unwrap().parse().unwrap();
        let allocated: f64 = entry["allocated_seconds"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(missing > 2.0 && missing <= allocated, "{entry}");
    }
    assert_eq!(
        flagged(&report["metered_but_unallocated"]),
        [(
            unknown_id.clone(),
            stray_gpu.clone(),
            "unknown_allocation".to_owned()
        )]
        .into(),
        "{report:#}"
    );
    assert_eq!(
        report["metered_but_unallocated"][0]["unallocated_seconds"],
        "3"
    );

    // The CLI prints the same and exits with status 3.
    let output = env
        .run_cli(&["reconcile", "--since", &since.to_string()])
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("allocated but silent: 2"), "{stdout}");
    assert!(stdout.contains("metered but unallocated: 1"), "{stdout}");
    assert!(stdout.contains(&stray_gpu), "{stdout}");
    drop(triggers);
}

/// Bad windows get JSON errors: an unparsable `since`, one in the future, an unknown parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_refuses_bad_windows_with_json_errors() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let future = (Utc::now() + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    for (path, status, code) in [
        (
            "/v1/reconciliation?since=yesterday".to_owned(),
            400,
            "invalid_query",
        ),
        (
            format!("/v1/reconciliation?since={future}"),
            400,
            "invalid_since",
        ),
        (
            "/v1/reconciliation?until=2026-11-01T00:00:00Z".to_owned(),
            400,
            "invalid_query",
        ),
    ] {
        let (got, body) = api.get(&path).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    // An empty ledger with no allocation reconciles clean.
    let (status, report) = api.get("/v1/reconciliation").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["allocated_but_silent"], json!([]));
    assert_eq!(report["metered_but_unallocated"], json!([]));
    let output = env.run_cli(&["reconcile"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Usage is billed only as its allocation grants it. With `unknown_allocations = "reject"`, hand-
/// made events against scheduled allocations (whole GPUs and a MIG instance, one released, one
/// past its maximum duration), a static allocation of cluster.toml and an unknown one: those the
/// grants cover are billed, every other one is dead-lettered with its reason, and nothing of them
/// reaches the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_its_allocation_does_not_grant_is_dead_lettered_with_the_reason() {
    let env = TestEnv::with_settings(&[("GPUBILL_AGGREGATOR_UNKNOWN_ALLOCATIONS", "reject")]).await;
    let api = env.start_api().await;
    let create = |sku: &str, gpus: u32, class: &str, max_duration_seconds: i64| {
        json!({
            "tenant": "mistral-lab", "sku": sku, "gpus": gpus, "class": class,
            "max_duration_seconds": max_duration_seconds,
        })
        .to_string()
    };
    let mut allocations = Vec::new();
    for body in [
        create("H100-SXM5-80GB", 2, "on_demand", 3600),
        create("H100-MIG-1g.10gb", 1, "on_demand", 3600),
        create("H100-SXM5-80GB", 1, "on_demand", 60),
        create("H100-SXM5-80GB", 1, "on_demand", 3600),
    ] {
        let (status, allocation) = api.send("POST", "/v1/allocations", &body).await;
        assert_eq!(status, 201, "{allocation}");
        allocations.push(allocation);
    }
    let [whole, mig, brief, released] = <[Value; 4]>::try_from(allocations).unwrap();
    // Released at once: its grant ends at its release.
    let released_id = released["id"].as_str().unwrap();
    let (status, body) = api
        .send(
            "POST",
            &format!("/v1/allocations/{released_id}/release"),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let released_at = at(&body["ended_at"]);

    let gpu = |allocation: &Value, index: usize| {
        let placed = &allocation["placement"][index];
        (
            placed["node"].as_str().unwrap().to_owned(),
            placed["gpu_uuid"].as_str().unwrap().to_owned(),
            placed["mig_first_slice"].as_u64(),
        )
    };
    let (whole_node, whole_gpu, _) = gpu(&whole, 0);
    let (mig_node, mig_gpu, mig_slice) = gpu(&mig, 0);
    let mig_slice = u8::try_from(mig_slice.unwrap()).unwrap();
    let mig_device = gpubill_schema::event::mig_device_uuid(&mig_gpu, mig_slice);
    let other_slice = gpubill_schema::event::mig_device_uuid(&mig_gpu, (mig_slice + 1) % 7);
    let (brief_node, brief_gpu, _) = gpu(&brief, 0);
    let (released_node, released_gpu, _) = gpu(&released, 0);
    let static_node = env
        .config
        .cluster
        .nodes
        .iter()
        .find(|n| n.id == "node-001")
        .unwrap();
    let static_gpu = static_node.gpu_uuid(0);

    struct Case {
        allocation: String,
        tenant: &'static str,
        node: String,
        device: String,
        sku: &'static str,
        class: gpubill_domain::PriceClass,
        start: DateTime<Utc>,
        seconds: i64,
        /// `None`: billed.
        refused: Option<&'static str>,
    }
    let on_demand = gpubill_domain::PriceClass::OnDemand;
    let h100 = "H100-SXM5-80GB";
    let start_of = |allocation: &Value| at(&allocation["started_at"]);
    let id = |allocation: &Value| allocation["id"].as_str().unwrap().to_owned();
    let granted = |allocation: &Value, node: &str, device: &str, sku: &'static str| Case {
        allocation: id(allocation),
        tenant: "mistral-lab",
        node: node.to_owned(),
        device: device.to_owned(),
        sku,
        class: on_demand,
        start: start_of(allocation),
        seconds: 10,
        refused: None,
    };
    let cases = vec![
        granted(&whole, &whole_node, &whole_gpu, h100),
        granted(&mig, &mig_node, &mig_device, "H100-MIG-1g.10gb"),
        Case {
            start: start_of(&brief) + Duration::seconds(50),
            ..granted(&brief, &brief_node, &brief_gpu, h100)
        },
        Case {
            allocation: "alloc-mistral-1".into(),
            start: start_of(&whole),
            ..granted(&whole, "node-001", &static_gpu, h100)
        },
        Case {
            tenant: "nordic-nlp",
            refused: Some("tenant_mismatch"),
            ..granted(&whole, &whole_node, &whole_gpu, h100)
        },
        Case {
            device: released_gpu.clone(),
            node: released_node.clone(),
            refused: Some("gpu_not_allocated"),
            ..granted(&whole, &whole_node, &whole_gpu, h100)
        },
        Case {
            device: mig_gpu.clone(),
            refused: Some("gpu_not_allocated"),
            ..granted(&mig, &mig_node, &mig_device, "H100-MIG-1g.10gb")
        },
        Case {
            device: other_slice,
            refused: Some("gpu_not_allocated"),
            ..granted(&mig, &mig_node, &mig_device, "H100-MIG-1g.10gb")
        },
        Case {
            sku: "H100-MIG-7g.80gb",
            refused: Some("sku_mismatch"),
            ..granted(&whole, &whole_node, &whole_gpu, h100)
        },
        Case {
            class: gpubill_domain::PriceClass::Spot,
            refused: Some("class_mismatch"),
            ..granted(&whole, &whole_node, &whole_gpu, h100)
        },
        Case {
            start: start_of(&whole) - Duration::seconds(10),
            refused: Some("outside_allocation"),
            ..granted(&whole, &whole_node, &whole_gpu, h100)
        },
        // Running, but past its maximum duration of 60 s.
        Case {
            start: start_of(&brief) + Duration::seconds(55),
            refused: Some("outside_allocation"),
            ..granted(&brief, &brief_node, &brief_gpu, h100)
        },
        // Across its release.
        Case {
            start: released_at - Duration::seconds(5),
            refused: Some("outside_allocation"),
            ..granted(&released, &released_node, &released_gpu, h100)
        },
        Case {
            allocation: "placed-by-hand".into(),
            refused: Some("unknown_allocation"),
            ..granted(&whole, &whole_node, &whole_gpu, h100)
        },
    ];
    // Each case is the first event of a stream of its own (its seq), so none is refused for
    // overlapping another.
    let records: Vec<(String, Vec<u8>)> = cases
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let seq = u64::try_from(index + 1).unwrap();
            let end = case.start + Duration::seconds(case.seconds);
            let event = UsageEventV1::new(
                UsageDataV1 {
                    tenant_id: case.tenant.into(),
                    allocation_id: case.allocation.clone(),
                    node_id: case.node.clone(),
                    gpu_uuid: case.device.clone(),
                    sku: case.sku.into(),
                    price_class: case.class,
                    seq,
                    interval_start: case.start,
                    interval_end: end,
                },
                end,
            );
            (case.allocation.clone(), event.encode())
        })
        .collect();
    let keyed: Vec<(&str, Vec<u8>)> = records
        .iter()
        .map(|(key, payload)| (key.as_str(), payload.clone()))
        .collect();
    env.produce_raw(&keyed).await;
    let stats = env.run_aggregator_until_caught_up().await;

    let refused: Vec<&str> = cases.iter().filter_map(|c| c.refused).collect();
    assert_eq!(stats.dead_lettered, refused.len() as u64, "{stats:?}");
    assert_eq!(stats.applied, (cases.len() - refused.len()) as u64);
    let mut reasons: Vec<String> = support::dead_letters(&env, refused.len())
        .into_iter()
        .map(|(reason, _)| reason)
        .collect();
    reasons.sort();
    let mut expected: Vec<String> = refused.iter().map(|r| (*r).to_owned()).collect();
    expected.sort();
    assert_eq!(reasons, expected);

    let billed: BTreeSet<(String, String, i64)> = env
        .conn(|conn| {
            use diesel::prelude::*;
            use gpubill_schema::schema::usage_runs::dsl::*;
            usage_runs
                .select((allocation_id, gpu_uuid, first_seq))
                .load(conn)
                .unwrap()
        })
        .await
        .into_iter()
        .collect();
    let expected: BTreeSet<(String, String, i64)> = cases
        .iter()
        .enumerate()
        .filter(|(_, case)| case.refused.is_none())
        .map(|(index, case)| {
            (
                case.allocation.clone(),
                case.device.clone(),
                i64::try_from(index + 1).unwrap(),
            )
        })
        .collect();
    assert_eq!(billed, expected);
}
