//! The scheduler on real Postgres behind the HTTP API: admissions at the quota edge under
//! concurrency, no GPU given twice, a restart that rebuilds the same state, spot preemption
//! with its notice and credit, expiry, quota checks and refused requests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use diesel::prelude::*;
use gpubill_domain::PriceClass;
use gpubill_domain::scheduler::NodeState;
use gpubill_scheduler::{AllocationRequest, AllocationStatus, Scheduler};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::str::FromStr;
use support::TestEnv;

/// The environment with only the given nodes of the default inventory, no static allocations
/// and no reservations, and no quota for any tenant.
async fn env_with_nodes(nodes: usize) -> TestEnv {
    let mut env = TestEnv::new().await;
    let cluster = &mut env.config.cluster;
    cluster.nodes.truncate(nodes);
    cluster.allocations.clear();
    cluster.reservations.clear();
    for tenant in &mut cluster.tenants {
        tenant.quota = Default::default();
    }
    env
}

fn request(tenant: &str, gpus: u32, class: &str) -> AllocationRequest {
    AllocationRequest {
        tenant: tenant.into(),
        sku: "H100-SXM5-80GB".into(),
        gpus,
        class: Some(class.into()),
        max_duration_seconds: 3600,
        priority: 0,
        idempotency_key: None,
    }
}

fn body(request: &AllocationRequest) -> String {
    json!({
        "tenant": request.tenant,
        "sku": request.sku,
        "gpus": request.gpus,
        "class": request.class,
        "max_duration_seconds": request.max_duration_seconds,
        "priority": request.priority,
        "idempotency_key": request.idempotency_key,
    })
    .to_string()
}

fn spot_price(env: &TestEnv, class: PriceClass) -> Decimal {
    env.config
        .price_book
        .sku("H100-SXM5-80GB")
        .and_then(|prices| prices.version_at(chrono::Utc::now()))
        .unwrap()
        .price(class)
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("a decimal string")).unwrap()
}

/// One POST, blocking, with its own connection.
fn post_blocking(address: std::net::SocketAddr, key: &str, path: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&format!("http://{address}{path}"))
        .header("authorization", &format!("Bearer {key}"))
        .content_type("application/json")
        .send(body)
        .expect("HTTP request");
    let status = response.status().as_u16();
    let bytes = response.body_mut().read_to_vec().expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

/// Fires `requests` at the API all at once, each from its own thread and connection; returns
/// each (status, body) in request order.
async fn fire(api: &support::RunningApi, requests: &[AllocationRequest]) -> Vec<(u16, Value)> {
    let address = api.address;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(requests.len()));
    let calls: Vec<_> = requests
        .iter()
        .map(|request| {
            let (body, barrier, key) = (body(request), barrier.clone(), api.admin_key.clone());
            tokio::task::spawn_blocking(move || {
                barrier.wait();
                post_blocking(address, &key, "/v1/allocations", &body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

/// GPU slots held by running allocations, from the database: (uuid, first slice).
fn live_slots(env: &TestEnv) -> impl std::future::Future<Output = Vec<(String, i16, i16)>> + '_ {
    env.conn(|conn| {
        use gpubill_schema::schema::live_gpu_slots::dsl::*;
        live_gpu_slots
            .select((gpu_uuid, first_slice, slices))
            .load(conn)
            .unwrap()
    })
}

/// Models a burst of 48 requests racing for one tenant's last GPUs and budget: exactly the
/// allocations that fit the cap and the budget are admitted, every other one is refused with the
/// figures, and no GPU is given twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admissions_at_the_quota_edge_never_exceed_it() {
    let mut env = env_with_nodes(8).await;
    // One GPU-hour on demand, held rounded up to the cent.
    let hold = spot_price(&env, PriceClass::OnDemand);
    for tenant in &mut env.config.cluster.tenants {
        match tenant.id.as_str() {
            "mistral-lab" => {
                tenant.quota.concurrent.insert("H100-SXM5-80GB".into(), 12);
            }
            "helix-bio" => tenant.quota.budget_per_month = Some(hold * Decimal::from(5)),
            _ => {}
        }
    }
    let api = env.start_api().await;

    let mut burst = Vec::new();
    for index in 0..24 {
        burst.push(request("mistral-lab", 1 + index % 3, "on_demand"));
        burst.push(request("helix-bio", 1, "on_demand"));
    }
    let answers = fire(&api, &burst).await;

    let mut mistral_gpus = 0;
    let mut helix_admitted = 0;
    let mut uuids = BTreeSet::new();
    for (request, (status, answer)) in burst.iter().zip(&answers) {
        match status {
            201 => {
                for gpu in answer["placement"].as_array().unwrap() {
                    assert!(
                        uuids.insert(gpu["gpu_uuid"].as_str().unwrap().to_owned()),
                        "GPU given twice: {gpu}"
                    );
                }
                if request.tenant == "mistral-lab" {
                    mistral_gpus += request.gpus;
                } else {
                    helix_admitted += 1;
                }
            }
            409 => {
                assert_eq!(answer["code"], "quota_exceeded", "{answer}");
                let details = &answer["details"];
                let reason = details["reason"].as_str().unwrap();
                let (cap, used, requested) = (
                    decimal(&details["cap"]),
                    decimal(&details["used"]),
                    decimal(&details["requested"]),
                );
                assert!(used + requested > cap, "refused within the cap: {answer}");
                assert_eq!(
                    decimal(&details["remaining"]),
                    (cap - used).max(Decimal::ZERO)
                );
                if request.tenant == "mistral-lab" {
                    assert_eq!(reason, "concurrent_gpus");
                    assert_eq!(cap, Decimal::from(12));
                } else {
                    assert_eq!(reason, "budget");
                }
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert!(
        (10..=12).contains(&mistral_gpus),
        "{mistral_gpus} GPUs admitted"
    );
    assert_eq!(helix_admitted, 5, "the budget holds exactly five GPU-hours");
    let slots = live_slots(&env).await;
    assert_eq!(
        slots.len(),
        uuids.len(),
        "the database holds what was acknowledged"
    );
}

/// Models 40 requests from three tenants racing for 24 GPUs: whatever is placed fits, and the
/// database's exclusion constraint agrees that no GPU is held twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_allocate_a_gpu_twice() {
    let env = env_with_nodes(3).await;
    let api = env.start_api().await;
    let tenants = ["mistral-lab", "helix-bio", "nordic-nlp"];
    let burst: Vec<_> = (0..40u32)
        .map(|index| request(tenants[index as usize % 3], 1 + index % 3, "on_demand"))
        .collect();
    let answers = fire(&api, &burst).await;
    let mut placed = 0;
    let mut uuids = BTreeSet::new();
    for (status, answer) in &answers {
        match status {
            201 => {
                for gpu in answer["placement"].as_array().unwrap() {
                    placed += 1;
                    assert!(uuids.insert(gpu["gpu_uuid"].as_str().unwrap().to_owned()));
                    // Up to 8 GPUs go on one node.
                    assert_eq!(gpu["node"], answer["placement"][0]["node"]);
                }
            }
            409 => assert_eq!(answer["code"], "insufficient_capacity", "{answer}"),
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert!(placed <= 24);
    assert!(
        placed >= 22,
        "best fit leaves at most a GPU or two unused: {placed}"
    );
    assert_eq!(live_slots(&env).await.len(), placed);
}

/// Models a scheduler restart (deploy or crash) after a busy spell: the state rebuilt from
/// Postgres is the state that was running, node states included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_identical_state() {
    let mut env = TestEnv::new().await;
    env.config.cluster.allocations.clear();
    let scheduler = Scheduler::start(&env.config, env.pool.clone())
        .await
        .unwrap();

    let mut requests = vec![
        request("mistral-lab", 16, "on_demand"),
        request("mistral-lab", 3, "on_demand"),
        request("nordic-nlp", 2, "spot"),
        request("helix-bio", 8, "reserved"),
        request("helix-bio", 1, "on_demand"),
    ];
    let mut mig = request("mistral-lab", 3, "on_demand");
    mig.sku = "H100-MIG-1g.10gb".into();
    requests.push(mig);
    let mut keyed = request("nordic-nlp", 4, "on_demand");
    keyed.idempotency_key = Some("job-42".into());
    requests.push(keyed);
    let mut ids = Vec::new();
    for request in requests {
        ids.push(scheduler.allocate(request).await.unwrap().allocation);
    }
    // 16 GPUs: two whole nodes of one pod.
    let nodes: BTreeSet<_> = ids[0]
        .placement
        .iter()
        .map(|gpu| gpu.node.clone())
        .collect();
    assert_eq!(nodes.len(), 2);
    // Reserved: on helix-bio's reserved nodes only.
    assert!(
        ids[3].placement.iter().all(
            |gpu| ["node-113", "node-114", "node-115", "node-116"].contains(&gpu.node.as_str())
        )
    );
    // MIG: on a MIG node.
    assert!(ids[5].placement.iter().all(|gpu| gpu.mig_slices == Some(1)));
    scheduler.release(&ids[1].id, None).await.unwrap();
    scheduler
        .set_node_state("node-010", NodeState::Drained)
        .await
        .unwrap();
    scheduler
        .set_node_state("node-011", NodeState::Down)
        .await
        .unwrap();
    let before = scheduler.snapshot();
    assert_eq!(before.running.len(), 6);
    drop(scheduler);

    let restarted = Scheduler::start(&env.config, env.pool.clone())
        .await
        .unwrap();
    assert_eq!(restarted.snapshot(), before);
    // The idempotency key still names the same allocation after the restart.
    let mut again = request("nordic-nlp", 4, "on_demand");
    again.idempotency_key = Some("job-42".into());
    let replayed = restarted.allocate(again.clone()).await.unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.allocation.id, ids[6].id);
    again.gpus = 5;
    assert!(matches!(
        restarted.allocate(again).await,
        Err(gpubill_scheduler::SchedulerError::IdempotencyKeyReused { .. })
    ));
}

/// Models a full node of spot work when an on-demand job arrives: the youngest spot allocation
/// of the lowest priority is preempted, just that one, its tenant sees a notice and receives the
/// documented credit as prepaid credit, and the on-demand job gets its GPUs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_request_preempts_the_youngest_spot_allocation_with_a_credit() {
    let env = env_with_nodes(1).await;
    let api = env.start_api().await;
    let post = |request: AllocationRequest| {
        let body = body(&request);
        let api = &api;
        async move { api.send("POST", "/v1/allocations", &body).await }
    };
    let mut low_old = request("nordic-nlp", 2, "spot");
    low_old.priority = 1;
    let (status, older) = post(low_old).await;
    assert_eq!(status, 201, "{older}");
    let (_, younger_high) = post({
        let mut r = request("helix-bio", 2, "spot");
        r.priority = 5;
        r
    })
    .await;
    let (_, youngest_low) = post({
        let mut r = request("mistral-lab", 4, "spot");
        r.priority = 1;
        r
    })
    .await;
    assert_eq!(youngest_low["status"], "running");

    let (status, on_demand) = post(request("helix-bio", 4, "on_demand")).await;
    assert_eq!(status, 201, "{on_demand}");
    let (_, victim) = api
        .get(&format!(
            "/v1/allocations/{}",
            youngest_low["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(victim["status"], "preempted");
    assert_eq!(victim["preempted_by"], on_demand["id"]);
    assert!(victim["notice"].as_str().unwrap().contains("preempted"));
    let credit = spot_price(&env, PriceClass::Spot) * Decimal::from(4);
    assert_eq!(decimal(&victim["credit_amount"]), credit);
    // The on-demand job runs on exactly the GPUs the victim gave back.
    assert_eq!(on_demand["placement"], victim["placement"]);
    for spared in [&older, &younger_high] {
        let (_, now) = api
            .get(&format!(
                "/v1/allocations/{}",
                spared["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(now["status"], "running", "no more is preempted than needed");
    }
    let (_, balance) = api.get("/v1/tenants/mistral-lab/credit").await;
    assert_eq!(decimal(&balance["balance"]), credit, "{balance}");
    let (_, listed) = api
        .get("/v1/tenants/mistral-lab/allocations?status=preempted")
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

/// Models allocations reaching their maximum duration: they end at that instant, hold captured
/// at what they metered (nothing here), GPUs free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_end_at_their_maximum_duration() {
    let env = env_with_nodes(1).await;
    let scheduler = Scheduler::start(&env.config, env.pool.clone())
        .await
        .unwrap();
    let mut short = request("mistral-lab", 8, "on_demand");
    short.max_duration_seconds = 60;
    let allocation = scheduler.allocate(short).await.unwrap().allocation;
    assert_eq!(scheduler.expire_due(chrono::Utc::now()).await.unwrap(), 0);
    let later = allocation.max_end_at + chrono::Duration::seconds(1);
    assert_eq!(scheduler.expire_due(later).await.unwrap(), 1);
    let ended = scheduler.get(&allocation.id).await.unwrap().unwrap();
    assert_eq!(ended.status, AllocationStatus::Expired);
    assert_eq!(ended.ended_at, Some(allocation.max_end_at));
    assert_eq!(ended.captured_amount, Some(Decimal::ZERO));
    assert_eq!(scheduler.snapshot().free_gpus, 8);
    assert!(live_slots(&env).await.is_empty());
}

/// Models enforcement calls from other systems: the answer names the limit and its figures,
/// allocates nothing, and bad requests get 4xx codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_checks_answer_from_memory_and_bad_requests_get_codes() {
    let mut env = env_with_nodes(2).await;
    env.config.cluster.tenants[0]
        .quota
        .concurrent
        .insert("H100-SXM5-80GB".into(), 8);
    env.config.cluster.tenants[0].quota.gpu_hours_per_month = Some(Decimal::from(3));
    let tenant = env.config.cluster.tenants[0].id.clone();
    let api = env.start_api().await;

    let (status, verdict) = api
        .send(
            "POST",
            "/v1/quota/check",
            &body(&request(&tenant, 4, "on_demand")),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["admitted"], false, "{verdict}");
    assert_eq!(verdict["refusal"]["reason"], "gpu_hours");
    assert_eq!(decimal(&verdict["refusal"]["cap"]), Decimal::from(3));
    assert_eq!(decimal(&verdict["refusal"]["requested"]), Decimal::from(4));
    let (_, verdict) = api
        .send(
            "POST",
            "/v1/quota/check",
            &body(&request(&tenant, 2, "on_demand")),
        )
        .await;
    assert_eq!(verdict["admitted"], true, "{verdict}");
    assert_eq!(verdict["placeable"], true);
    assert!(
        live_slots(&env).await.is_empty(),
        "a check allocates nothing"
    );

    let mut nine = request(&tenant, 9, "on_demand");
    nine.max_duration_seconds = 60;
    let cases = [
        (
            "POST",
            "/v1/allocations".to_owned(),
            body(&request("nobody", 1, "on_demand")),
            404,
            "tenant_not_found",
        ),
        (
            "POST",
            "/v1/allocations".to_owned(),
            body(&request(&tenant, 0, "on_demand")),
            400,
            "invalid_gpus",
        ),
        (
            "POST",
            "/v1/allocations".to_owned(),
            body(&request(&tenant, 1, "cheap")),
            400,
            "invalid_class",
        ),
        (
            "POST",
            "/v1/allocations".to_owned(),
            body(&nine),
            422,
            "invalid_gang",
        ),
        (
            "POST",
            "/v1/allocations".to_owned(),
            r#"{"tenant": 3}"#.to_owned(),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/allocations/none/release".to_owned(),
            String::new(),
            404,
            "allocation_not_found",
        ),
        (
            "PUT",
            "/v1/nodes/node-001/state".to_owned(),
            r#"{"state": "asleep"}"#.to_owned(),
            400,
            "invalid_state",
        ),
        (
            "PUT",
            "/v1/nodes/node-999/state".to_owned(),
            r#"{"state": "down"}"#.to_owned(),
            404,
            "node_not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = api.send(method, &path, &body).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{path} {body}: {answer}"
        );
    }
    let (status, allocation) = api
        .send(
            "POST",
            "/v1/allocations",
            &body(&request(&tenant, 1, "on_demand")),
        )
        .await;
    assert_eq!(status, 201);
    let release = format!(
        "/v1/allocations/{}/release",
        allocation["id"].as_str().unwrap()
    );
    assert_eq!(api.send("POST", &release, "").await.0, 200);
    let (status, again) = api.send("POST", &release, "").await;
    assert_eq!((status, again["code"].as_str()), (409, Some("not_running")));
    let (status, _) = api
        .send("PUT", "/v1/nodes/node-001/state", r#"{"state": "drained"}"#)
        .await;
    assert_eq!(status, 200);
}
