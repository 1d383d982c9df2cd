//! API keys on the real API, Postgres and command line: the first admin key from the command
//! line, revocation and expiry on every instance within a refresh, the quota check answered from
//! memory while Postgres is gone (and every key refused once the copy is too old), keys never in
//! clear in the database or the logs, and the audit trail of every change, append-only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::time::{Duration, Instant};
use support::{RunningApi, TestEnv};

const QUOTA_CHECK: &str = r#"{"tenant": "mistral-lab", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 3600}"#;

async fn issue(api: &RunningApi, body: &str) -> (String, String) {
    api.issue_key(body).await
}

/// The status `api` answers `key` on the tenant's credit.
async fn status_for(api: &RunningApi, key: &str) -> u16 {
    api.request("GET", "/v1/tenants/mistral-lab/credit", Some(key), None)
        .await
        .status
}

/// Polls until `api` answers `key` with `status`; returns how long that took.
async fn until_status(api: &RunningApi, key: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if status_for(api, key).await == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still not {status} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Models two API instances behind a load balancer: a key issued or revoked on one is known to
/// the other within `auth.key_refresh_ms` (1 s), and a key stops at its expiry on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_expiry_take_effect_on_every_instance_within_a_refresh() {
    let env = TestEnv::new().await;
    let one = env.start_api().await;
    let two = env.start_api().await;
    let refresh = Duration::from_millis(env.config.settings.auth.key_refresh_ms);

    let (key, id) = issue(&one, r#"{"role": "tenant", "tenant": "mistral-lab"}"#).await;
    assert_eq!(
        status_for(&one, &key).await,
        200,
        "usable at once where it was issued"
    );
    let learnt = until_status(&two, &key, 200, 5 * refresh).await;

    let (status, revoked) = one
        .send("POST", &format!("/v1/api-keys/{id}/revoke"), "{}")
        .await;
    assert_eq!(
        (status, revoked["revoked_at"].is_string()),
        (200, true),
        "{revoked}"
    );
    let refusal = one
        .request("GET", "/v1/tenants/mistral-lab/credit", Some(&key), None)
        .await;
    assert_eq!(refusal.status, 401, "refused at once where it was revoked");
    assert_eq!(refusal.json()["detail"], "the API key was revoked");
    let revoked_there = until_status(&two, &key, 401, 5 * refresh).await;
    assert!(
        revoked_there <= refresh + Duration::from_millis(500),
        "{revoked_there:?}"
    );

    // Revoking again changes nothing: the first revocation time stays.
    let (status, again) = one
        .send("POST", &format!("/v1/api-keys/{id}/revoke"), "{}")
        .await;
    assert_eq!(
        (status, &again["revoked_at"]),
        (200, &revoked["revoked_at"])
    );

    let (short, _) = issue(
        &one,
        r#"{"role": "tenant", "tenant": "mistral-lab", "expires_in_seconds": 2}"#,
    )
    .await;
    until_status(&two, &short, 200, 5 * refresh).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for api in [&one, &two] {
        let reply = api
            .request("GET", "/v1/tenants/mistral-lab/credit", Some(&short), None)
            .await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json()["detail"], "the API key has expired");
    }
    println!(
        "another instance learnt a new key in {learnt:?} and its revocation in {revoked_there:?}"
    );
    one.stop().await;
    two.stop().await;
}

/// Models Postgres unreachable from the API: quota checks go on, authenticated from memory,
/// while routes that read the ledger answer 503; once the copy of the keys is older than
/// `auth.key_max_staleness_ms`, every key is refused (503) until Postgres is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_check_authenticates_from_memory_while_postgres_is_gone() {
    let env = TestEnv::with_settings(&[
        ("GPUBILL_AUTH_KEY_REFRESH_MS", "200"),
        ("GPUBILL_AUTH_KEY_MAX_STALENESS_MS", "3000"),
        ("GPUBILL_DATABASE_CONNECT_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let (via_proxy, proxy) = env.through_proxy().await;
    let api = env
        .start_api_with(gpubill_platform::db::pool(&via_proxy.settings.database).unwrap())
        .await;
    let (tenant, _) = issue(&api, r#"{"role": "tenant", "tenant": "mistral-lab"}"#).await;
    let check = |key: String| {
        let api = &api;
        async move {
            api.request("POST", "/v1/quota/check", Some(&key), Some(QUOTA_CHECK))
                .await
        }
    };
    assert_eq!(check(tenant.clone()).await.status, 200);

    proxy.cut();
    let cut_at = Instant::now();
    for _ in 0..20 {
        let reply = check(tenant.clone()).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.json()["admitted"], true);
    }
    let draft = api
        .request(
            "GET",
            "/v1/tenants/mistral-lab/invoices/draft?period=2026-11",
            Some(&tenant),
            None,
        )
        .await;
    assert_eq!(
        (draft.status, draft.json()["code"].as_str()),
        (503, Some("ledger_unavailable"))
    );
    assert!(
        cut_at.elapsed() < Duration::from_secs(3),
        "the checks above ran within the staleness bound"
    );

    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(cut_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let stale = check(tenant.clone()).await;
    assert_eq!(
        (stale.status, stale.json()["code"].as_str()),
        (503, Some("auth_unavailable"))
    );

    proxy.restore();
    let started = Instant::now();
    while check(tenant.clone()).await.status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "keys not re-read after Postgres came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.stop().await;
}

/// Models a fresh database: the first admin key comes from the command line (no HTTP call can
/// make a key without one), and the command line lists and revokes keys, each audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_key_comes_from_the_command_line() {
    let env = TestEnv::new().await;
    let created = env
        .run_cli(&[
            "keys",
            "create",
            "--role",
            "admin",
            "--label",
            "bootstrap",
            "--quiet",
        ])
        .await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let admin = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(
        admin.starts_with("gpb_admin_") && admin.len() == "gpb_admin_".len() + 64,
        "{admin}"
    );

    let api = env.start_api().await;
    let anonymous = api
        .request("POST", "/v1/api-keys", None, Some(r#"{"role": "admin"}"#))
        .await;
    assert_eq!(anonymous.status, 401);
    let made = api
        .request(
            "POST",
            "/v1/api-keys",
            Some(&admin),
            Some(r#"{"role": "finance", "label": "books"}"#),
        )
        .await;
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));

    let tenant = env
        .run_cli(&[
            "keys",
            "create",
            "--role",
            "tenant",
            "--tenant",
            "mistral-lab",
            "--expires-in",
            "30d",
        ])
        .await;
    assert!(
        tenant.status.success(),
        "{}",
        String::from_utf8_lossy(&tenant.stderr)
    );
    let told = String::from_utf8_lossy(&tenant.stderr).to_string();
    assert!(
        told.contains("shown once") && told.contains("for mistral-lab"),
        "{told}"
    );

    let listed = env.run_cli(&["keys", "list", "--json"]).await;
    let keys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let keys = keys.as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["label"] == "bootstrap" && k["role"] == "admin")
    );
    let tenant_key = keys.iter().find(|k| k["role"] == "tenant").unwrap();
    assert!(tenant_key["expires_at"].is_string());
    let text = serde_json::to_string(&keys).unwrap();
    assert!(!text.contains(&admin[10..]), "a list never shows a secret");

    let id = tenant_key["id"].as_str().unwrap();
    let revoked = env.run_cli(&["keys", "revoke", id]).await;
    assert!(revoked.status.success());
    let again = env.run_cli(&["keys", "revoke", id]).await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("already revoked"));

    let wrong = env.run_cli(&["keys", "create", "--role", "tenant"]).await;
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("must be bound to a tenant"));
    let wrong = env
        .run_cli(&["keys", "create", "--role", "node", "--node", "node-999"])
        .await;
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("node-999"));

    let (_, audit) = api.get("/v1/audit?action=gpubill%20keys%20create").await;
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(
        entries
            .iter()
            .all(|e| e["operator"].as_str().unwrap().starts_with("cli:"))
    );
    api.stop().await;
}

/// Every state-changing request is in the audit trail, refused ones included, with the key, the
/// action, the targets, the status and the request id the answer carried; reads are not. The
/// database refuses to change or delete a row, and guards the keys the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_audited_and_the_trail_cannot_be_edited() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (tenant, tenant_id) = issue(&api, r#"{"role": "tenant", "tenant": "mistral-lab"}"#).await;
    let (finance, finance_id) = issue(&api, r#"{"role": "finance"}"#).await;

    let grant = api
        .request(
            "POST",
            "/v1/tenants/mistral-lab/credit/grants",
            Some(&finance),
            Some(r#"{"grant_id": "1b1f6f0e-3c1a-4f53-9d7e-2a1c0b9e8d01", "amount": "50.00", "source": "granted"}"#),
        )
        .await;
    assert_eq!(grant.status, 201);
    let allocation = api
        .request(
            "POST",
            "/v1/allocations",
            Some(&tenant),
            Some(r#"{"tenant": "mistral-lab", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 600}"#),
        )
        .await;
    assert_eq!(allocation.status, 201);
    let allocation_id = allocation.json()["id"].as_str().unwrap().to_owned();
    let refused = api
        .request(
            "POST",
            "/v1/tenants/mistral-lab/invoices/2026-01/finalize",
            Some(&tenant),
            None,
        )
        .await;
    assert_eq!(refused.status, 403);
    let read = api
        .request("POST", "/v1/quota/check", Some(&tenant), Some(QUOTA_CHECK))
        .await;
    assert_eq!(read.status, 200);

    let (status, audit) = api.get("/v1/audit?tenant=mistral-lab").await;
    assert_eq!(status, 200);
    let entries = audit["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "POST /v1/tenants/{tenant}/invoices/{period}/finalize",
            "POST /v1/allocations",
            "POST /v1/tenants/{tenant}/credit/grants",
            "POST /v1/api-keys",
        ],
        "newest first; the quota check is a read: {audit}"
    );
    let [finalize, allocate, granted, key] = &entries[..] else {
        unreachable!()
    };
    assert_eq!(finalize["status"], 403);
    assert_eq!(finalize["key_id"].as_str(), Some(tenant_id.as_str()));
    assert_eq!(finalize["key_role"], "tenant");
    assert_eq!(
        finalize["request_id"].as_str(),
        refused.header("x-request-id")
    );
    assert_eq!(
        allocate["targets"]["allocation"].as_str(),
        Some(allocation_id.as_str())
    );
    assert_eq!(allocate["target_tenant"], "mistral-lab");
    assert_eq!(
        allocate["request_id"].as_str(),
        allocation.header("x-request-id")
    );
    assert_eq!(granted["key_id"].as_str(), Some(finance_id.as_str()));
    assert_eq!(
        (granted["status"].as_i64(), granted["key_role"].as_str()),
        (Some(201), Some("finance"))
    );
    assert_eq!(key["targets"]["key"].as_str(), Some(tenant_id.as_str()));

    let (_, by_key) = api.get(&format!("/v1/audit?key={finance_id}")).await;
    assert_eq!(by_key["data"].as_array().unwrap().len(), 1);
    let (_, first) = api.get("/v1/audit?tenant=mistral-lab&limit=1").await;
    assert_eq!(first["data"][0]["id"], entries[0]["id"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = api
        .get(&format!(
            "/v1/audit?tenant=mistral-lab&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(second["data"][0]["id"], entries[1]["id"]);
    let (status, refused) = api.get("/v1/audit?cursor=not-a-cursor").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_cursor"))
    );
    let (_, later) = api.get("/v1/audit?from=2099-01-01T00:00:00Z").await;
    assert_eq!(later["data"].as_array().unwrap().len(), 0);
    let refused = api.request("GET", "/v1/audit", Some(&tenant), None).await;
    assert_eq!(refused.status, 403);

    let refusals = env
        .conn(move |conn| {
            use diesel::RunQueryDsl;
            [
                "UPDATE audit_log SET status = 200",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
                "DELETE FROM api_keys",
                "TRUNCATE api_keys CASCADE",
                "UPDATE api_keys SET role = 'admin'",
                "UPDATE api_keys SET expires_at = now() + interval '1 day'",
                "UPDATE api_keys SET label = 'changed'",
            ]
            .map(|sql| (sql, diesel::sql_query(sql).execute(conn).is_err()))
        })
        .await;
    for (sql, refused) in refusals {
        assert!(refused, "the database accepted: {sql}");
    }
    let (status, _) = api
        .send("POST", &format!("/v1/api-keys/{tenant_id}/revoke"), "{}")
        .await;
    assert_eq!(status, 200);
    let unrevoke = env
        .conn(move |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "UPDATE api_keys SET revoked_at = NULL WHERE id = '{tenant_id}'"
            ))
            .execute(conn)
            .is_err()
        })
        .await;
    assert!(unrevoke, "a revoked key cannot be un-revoked");
    api.stop().await;
}

/// A key's last use is recorded without a write per request: in memory, written at the next
/// refresh of the keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_use_is_recorded_within_a_refresh() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (tenant, id) = issue(&api, r#"{"role": "tenant", "tenant": "mistral-lab"}"#).await;
    let (_, keys) = api.get("/v1/api-keys").await;
    let listed = |keys: &serde_json::Value| {
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap()
            .clone()
    };
    assert!(listed(&keys)["last_used_at"].is_null());
    for _ in 0..50 {
        assert_eq!(status_for(&api, &tenant).await, 200);
    }
    let started = Instant::now();
    loop {
        let (_, keys) = api.get("/v1/api-keys").await;
        if listed(&keys)["last_used_at"].is_string() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "last use not recorded: {keys}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.stop().await;
}

/// Keys are never stored or logged in clear: after a run of `gpubill api` at debug level that
/// saw a key used, refused, listed and revoked, neither its text nor its secret part appears in
/// the process's log or in a dump of the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_never_stored_or_logged_in_clear() {
    let env = TestEnv::new().await;
    let created = env
        .run_cli(&["keys", "create", "--role", "admin", "--quiet"])
        .await;
    let admin = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = std::env::temp_dir().join(format!("gpubill-keys-log-{port}.log"));
    let mut child = env.spawn_api(port, "debug", &log_path);
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let started = Instant::now();
    while agent.get(format!("{base}/healthz")).call().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gpubill api did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = |method: &str, path: &str, key: &str, body: Option<&str>| {
        let url = format!("{base}{path}");
        let authorization = format!("Bearer {key}");
        let mut response = match (method, body) {
            ("GET", _) => agent
                .get(&url)
                .header("authorization", &authorization)
                .call(),
            (_, body) => agent
                .post(&url)
                .header("authorization", &authorization)
                .content_type("application/json")
                .send(body.unwrap_or("{}")),
        }
        .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    };
    let (status, issued) = call(
        "POST",
        "/v1/api-keys",
        &admin,
        Some(r#"{"role": "tenant", "tenant": "mistral-lab"}"#),
    );
    assert_eq!(status, 201, "{issued}");
    let issued: serde_json::Value = serde_json::from_str(&issued).unwrap();
    let tenant = issued["key"].as_str().unwrap().to_owned();
    assert_eq!(
        call("GET", "/v1/tenants/mistral-lab/credit", &tenant, None).0,
        200
    );
    assert_eq!(
        call(
            "POST",
            "/v1/tenants/mistral-lab/invoices/2026-01/finalize",
            &tenant,
            None
        )
        .0,
        403
    );
    let mut wrong = tenant.clone();
    wrong.replace_range(
        wrong.len() - 1..,
        if tenant.ends_with('0') { "1" } else { "0" },
    );
    assert_eq!(
        call("GET", "/v1/tenants/mistral-lab/credit", &wrong, None).0,
        401
    );
    assert_eq!(call("GET", "/v1/api-keys", &admin, None).0, 200);
    let revoke = format!("/v1/api-keys/{}/revoke", issued["id"].as_str().unwrap());
    assert_eq!(call("POST", &revoke, &admin, None).0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await; // a refresh writes the last uses
    child.kill();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        log.lines().count() > 5,
        "the API logged at debug level: {log}"
    );
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", &env.config.settings.database.url])
        .output()
        .expect("run pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).to_string();
    assert!(
        dump.contains("gpb_tenant_"),
        "the dump holds the keys' display prefixes"
    );
    for key in [&admin, &tenant, &wrong] {
        let secret = &key[key.len() - 64..];
        for (what, text) in [("log", &log), ("database", &dump)] {
            assert!(!text.contains(key.as_str()), "a key in clear in the {what}");
            assert!(!text.contains(secret), "a key's secret in the {what}");
            assert!(
                !text.contains(&secret[8..40]),
                "part of a key's secret in the {what}"
            );
        }
    }
}

/// An agent that follows the scheduler stops at once, saying why, when it has no key or when
/// the API refuses the one it has (another node's, or revoked); it does not wait and retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_usable_key_stops_and_says_why() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let run = |api_key: gpubill_platform::config::Secret, spool: &str| {
        let mut settings = env.config.settings.agent.clone();
        settings.scheduler_url = format!("http://{}", api.address);
        settings.api_key = api_key;
        settings.spool_dir = settings.spool_dir.join(spool);
        let kafka = env.config.settings.kafka.clone();
        async move {
            let (_trigger, stop) = gpubill_platform::shutdown::channel();
            let window = gpubill_agent::RunWindow {
                from: chrono::Utc::now(),
                until: None,
                speed: 1.0,
            };
            let source = gpubill_agent::AllocationSource::Scheduler { node: "node-001" };
            tokio::time::timeout(
                Duration::from_secs(20),
                gpubill_agent::run_source(&kafka, &settings, source, window, stop),
            )
            .await
            .expect("the agent stops by itself")
            .expect_err("the agent refuses to run")
            .to_string()
        }
    };
    let missing = run(gpubill_platform::config::Secret::default(), "a").await;
    assert!(missing.contains("GPUBILL_AGENT_API_KEY"), "{missing}");
    let other_node = run(api.node_key("node-002").await, "b").await;
    assert!(
        other_node.contains("refused the agent's key") && other_node.contains("node_not_found"),
        "{other_node}"
    );
    let (key, id) = api
        .issue_key(r#"{"role": "node", "node": "node-001"}"#)
        .await;
    let (status, _) = api
        .send("POST", &format!("/v1/api-keys/{id}/revoke"), "{}")
        .await;
    assert_eq!(status, 200);
    let revoked = run(gpubill_platform::config::Secret::new(key), "c").await;
    assert!(revoked.contains("revoked"), "{revoked}");
    api.stop().await;
}

/// `database.url` reaches libpq as it is, TLS parameters included: a URL asking to verify the
/// server's certificate against a root certificate that does not exist is refused by libpq,
/// which only happens if `sslmode` and `sslrootcert` got through the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_settings_in_the_url_reach_libpq() {
    let env = TestEnv::new().await;
    let mut settings = env.config.settings.database.clone();
    let plain = gpubill_platform::db::pool(&settings).unwrap();
    let reached: Result<(), gpubill_platform::DbError> =
        gpubill_platform::db::with_conn(&plain, |_| Ok(())).await;
    assert!(reached.is_ok());
    settings.url = format!(
        "{}?sslmode=verify-full&sslrootcert=/nonexistent/gpubill-root.crt",
        settings.url
    );
    settings.connect_timeout_seconds = 2;
    let verified = gpubill_platform::db::pool(&settings).unwrap();
    let error =
        gpubill_platform::db::with_conn(&verified, |_| Ok::<_, gpubill_platform::DbError>(()))
            .await
            .expect_err("libpq refuses a missing root certificate");
    let shown = format!("{error:?}");
    assert!(shown.contains("root certificate"), "{shown}");
}
