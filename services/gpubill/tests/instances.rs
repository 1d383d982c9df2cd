//! Two `gpubill api` processes on one database: the first runs the scheduler, the second
//! serves reads and answers the scheduler's decisions with 503 `scheduler_unavailable` (never a
//! 500); once the first is gone, a new process takes the scheduler over.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::time::{Duration, Instant};
use support::TestEnv;

struct Process {
    base: String,
    _child: support::ChildAggregator,
    log: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(env: &TestEnv, name: &str) -> Process {
    start_with(env, name, "warn", &[]).await
}

async fn start_with(
    env: &TestEnv,
    name: &str,
    filter: &str,
    variables: &[(&str, &str)],
) -> Process {
    let port = free_port();
    let log = std::env::temp_dir().join(format!("gpubill-instances-{name}-{port}.log"));
    let child = env.spawn_api_with(port, filter, &log, variables);
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while call("GET", &format!("{base}/healthz"), "", None).0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name} did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Process {
        base,
        _child: child,
        log,
    }
}

fn call(method: &str, url: &str, key: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let (status, _, body) = call_with_id(method, url, key, body);
    (status, body)
}

/// A call's status, `X-Request-Id` and JSON body.
fn call_with_id(
    method: &str,
    url: &str,
    key: &str,
    body: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let authorization = format!("Bearer {key}");
    let response = match (method, body.unwrap_or("{}")) {
        ("GET", _) => agent
            .get(url)
            .header("authorization", &authorization)
            .call(),
        (_, body) => agent
            .post(url)
            .header("authorization", &authorization)
            .content_type("application/json")
            .send(body),
    };
    let Ok(mut response) = response else {
        return (0, String::new(), serde_json::Value::Null);
    };
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, request_id, body)
}

const REQUEST: &str =
    r#"{"tenant": "mistral-lab", "sku": "H100-SXM5-80GB", "gpus": 2, "max_duration_seconds": 600}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_serves_reads_and_refuses_decisions_until_it_can_take_over() {
    let env = TestEnv::new().await;
    let created = env
        .run_cli(&["keys", "create", "--role", "admin", "--quiet"])
        .await;
    let admin = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let first = start(&env, "first").await;
    let second = start(&env, "second").await;
    let ask = |process: &Process, method: &'static str, path: &str, body: Option<&str>| {
        call(method, &format!("{}{path}", process.base), &admin, body)
    };

    let (status, ready) = ask(&first, "GET", "/readyz", None);
    assert_eq!(
        (status, ready["scheduler"].as_str()),
        (200, Some("leader")),
        "{ready}"
    );
    let (status, ready) = ask(&second, "GET", "/readyz", None);
    assert_eq!(
        (status, ready["scheduler"].as_str()),
        (200, Some("follower")),
        "{ready}"
    );

    let (status, allocation) = ask(&first, "POST", "/v1/allocations", Some(REQUEST));
    assert_eq!(status, 201, "{allocation}");
    let id = allocation["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        ("POST", "/v1/allocations".to_owned(), Some(REQUEST)),
        ("POST", format!("/v1/allocations/{id}/release"), Some("{}")),
        ("POST", "/v1/quota/check".to_owned(), Some(REQUEST)),
    ] {
        let (status, refused) = ask(&second, method, &path, body);
        assert_eq!(
            (status, refused["code"].as_str()),
            (503, Some("scheduler_unavailable")),
            "{method} {path}: {refused}"
        );
    }
    let (status, read) = ask(&second, "GET", &format!("/v1/allocations/{id}"), None);
    assert_eq!(
        (status, read["status"].as_str()),
        (200, Some("running")),
        "{read}"
    );
    let log = std::fs::read_to_string(&second.log).unwrap_or_default();
    assert!(log.contains("serving reads only"), "{log}");

    drop(first); // killed: its session, and the lock with it, ends
    let third = start(&env, "third").await;
    let (status, ready) = ask(&third, "GET", "/readyz", None);
    assert_eq!(
        (status, ready["scheduler"].as_str()),
        (200, Some("leader")),
        "{ready}"
    );
    let (status, released) = ask(
        &third,
        "POST",
        &format!("/v1/allocations/{id}/release"),
        Some("{}"),
    );
    assert_eq!(
        (status, released["status"].as_str()),
        (200, Some("released")),
        "{released}"
    );
    let (status, _) = ask(&second, "POST", "/v1/allocations", Some(REQUEST));
    assert_eq!(status, 503, "the follower stays one until restarted");
    for process in [&second, &third] {
        let _ = std::fs::remove_file(&process.log);
    }
}

/// With `log.format = "json"` every line is a JSON object, and what a change logs carries the
/// request id its answer named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_of_the_change_they_belong_to() {
    let env = TestEnv::new().await;
    let created = env
        .run_cli(&["keys", "create", "--role", "admin", "--quiet"])
        .await;
    let admin = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let api = start_with(&env, "json", "info", &[("GPUBILL_LOG_FORMAT", "json")]).await;
    let (status, allocation) = call(
        "POST",
        &format!("{}/v1/allocations", api.base),
        &admin,
        Some(REQUEST),
    );
    assert_eq!(status, 201, "{allocation}");
    let release = format!(
        "{}/v1/allocations/{}/release",
        api.base,
        allocation["id"].as_str().unwrap()
    );
    let (status, request_id, _) = call_with_id("POST", &release, &admin, Some("{}"));
    assert_eq!(status, 200);
    let started = Instant::now();
    let released = loop {
        let log = std::fs::read_to_string(&api.log).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect();
        if let Some(line) = lines.iter().find(|l| l["fields"]["message"] == "released") {
            break line.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no `released` line in {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(released["level"], "INFO");
    assert_eq!(
        released["span"]["request_id"],
        request_id.as_str(),
        "{released}"
    );
    assert_eq!(
        released["span"]["action"], "/v1/allocations/{id}/release",
        "{released}"
    );
    let _ = std::fs::remove_file(&api.log);
}
