//! Access control, end to end on the real API and Postgres: every route × every kind of caller
//! answers as `tests/data/access_matrix.toml` says; another tenant's resources look exactly like
//! missing ones; revocation and expiry take effect on every instance within the documented time;
//! the quota check authenticates from memory with Postgres gone; every change is in the audit
//! trail, which the database keeps append-only; and no key is ever stored or logged in clear.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use gpubill_domain::access::{KEY_SECRET_BYTES, KeySecret, Role};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{Reply, RunningApi, TestEnv};

const OWN: &str = "mistral-lab";
const OTHER: &str = "helix-bio";
const OWN_NODE: &str = "node-001";
const OTHER_NODE: &str = "node-002";

#[derive(Debug, Deserialize)]
struct Matrix {
    columns: Vec<String>,
    route: Vec<Row>,
}

#[derive(Debug, Deserialize)]
struct Row {
    route: String,
    request: String,
    #[serde(default)]
    body: Option<String>,
    expect: Vec<u16>,
}

fn matrix() -> Matrix {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/access_matrix.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What one column's requests are made of: the key sent and the ids put in the paths.
struct Caller {
    authorization: Option<String>,
    tenant: &'static str,
    node: &'static str,
    /// Fixtures of `tenant`.
    invoice: String,
    credit_note: String,
    allocation: String,
}

/// Ids of one tenant's fixtures.
#[derive(Clone)]
struct Fixtures {
    invoice: String,
    credit_note: String,
    allocation: String,
}

fn bearer(key: &str) -> Option<String> {
    Some(format!("Bearer {key}"))
}

/// Books a month of usage for `tenant` in September and October 2026.
async fn book_months(env: &TestEnv, tenant: &'static str) {
    use gpubill_domain::PriceClass;
    use gpubill_ledger::bookings::{RatedAddition, book_usage};
    use rust_decimal::dec;
    env.conn(move |conn| {
        use diesel::Connection;
        for month in [9, 10] {
            conn.transaction(|conn| {
                book_usage(
                    conn,
                    uuid::Uuid::new_v4(),
                    &[RatedAddition {
                        tenant_id: tenant.into(),
                        period: chrono::NaiveDate::from_ymd_opt(2026, month, 1).unwrap(),
                        sku: "H100-SXM5-80GB".into(),
                        price_class: PriceClass::OnDemand,
                        price_per_gpu_hour: dec!(2.49),
                        gpu_seconds: dec!(36000),
                    }],
                )
            })
            .unwrap();
        }
    })
    .await;
}

/// An invoice (September), a credit note (October's invoice, voided) and a running allocation.
async fn fixtures(api: &RunningApi, tenant: &str) -> Fixtures {
    let finalize = |month: &str| format!("/v1/tenants/{tenant}/invoices/2026-{month}/finalize");
    let (status, invoice) = api.send("POST", &finalize("09"), "{}").await;
    assert_eq!(status, 201, "{invoice}");
    let (status, october) = api.send("POST", &finalize("10"), "{}").await;
    assert_eq!(status, 201, "{october}");
    let void = format!("/v1/invoices/{}/void", october["number"].as_str().unwrap());
    let (status, credit_note) = api.send("POST", &void, r#"{"reason": "fixture"}"#).await;
    assert_eq!(status, 201, "{credit_note}");
    let body = format!(
        r#"{{"tenant": "{tenant}", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 3600}}"#
    );
    let (status, allocation) = api.send("POST", "/v1/allocations", &body).await;
    assert_eq!(status, 201, "{allocation}");
    Fixtures {
        invoice: invoice["number"].as_str().unwrap().to_owned(),
        credit_note: credit_note["number"].as_str().unwrap().to_owned(),
        allocation: allocation["id"].as_str().unwrap().to_owned(),
    }
}

/// Issues a key over HTTP with the admin key (known to the API at once).
async fn key(api: &RunningApi, body: &str) -> (String, String) {
    let (status, issued) = api.send("POST", "/v1/api-keys", body).await;
    assert_eq!(status, 201, "{body}: {issued}");
    (
        issued["key"].as_str().unwrap().to_owned(),
        issued["id"].as_str().unwrap().to_owned(),
    )
}

fn fill(template: &str, caller: &Caller, spare_key: &str) -> String {
    template
        .replace("{tenant}", caller.tenant)
        .replace("{node}", caller.node)
        .replace("{invoice}", &caller.invoice)
        .replace("{credit_note}", &caller.credit_note)
        .replace("{allocation}", &caller.allocation)
        .replace("{key}", spare_key)
}

/// Checks what every answer carries: a request id, a JSON error body on refusals, and the
/// bearer challenge on 401.
fn check_envelope(reply: &Reply, what: &str) {
    assert!(
        reply.header("x-request-id").is_some(),
        "{what}: no X-Request-Id"
    );
    if reply.status >= 400 {
        // RFC 9457 problem details, the instance being the request id.
        let body = reply.json();
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        let code = body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {body}"));
        assert_eq!(
            body["type"],
            format!("urn:gpubill:problem:{code}"),
            "{what}"
        );
        assert_eq!(body["status"], reply.status, "{what}");
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "{what}: {body}"
        );
        let instance = format!("urn:uuid:{}", reply.header("x-request-id").unwrap_or(""));
        assert_eq!(body["instance"], instance, "{what}");
    }
    if reply.status == 401 {
        let challenge = reply.header("www-authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
    }
}

/// The access matrix: every route of the route table × every kind of caller, the expected
/// status of each cell read from `tests/data/access_matrix.toml`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_kind_of_caller_as_the_matrix_says() {
    let matrix = matrix();
    let listed: BTreeSet<String> = matrix.route.iter().map(|row| row.route.clone()).collect();
    let routes: BTreeSet<String> = gpubill_api::routes::OPERATIONS
        .iter()
        .map(|op| format!("{} {}", op.method, op.path))
        .collect();
    let missing: Vec<_> = routes.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&routes).collect();
    assert!(stale.is_empty(), "matrix rows naming no route: {stale:?}");
    assert_eq!(listed.len(), matrix.route.len(), "a route has two rows");

    let env = TestEnv::new().await;
    book_months(&env, OWN).await;
    book_months(&env, OTHER).await;
    let api = env.start_api().await;
    let own = fixtures(&api, OWN).await;
    let other = fixtures(&api, OTHER).await;

    let tenant_body = |extra: &str| format!(r#"{{"role": "tenant", "tenant": "{OWN}"{extra}}}"#);
    let (revoked, revoked_id) = key(&api, &tenant_body("")).await;
    let (status, _) = api
        .send("POST", &format!("/v1/api-keys/{revoked_id}/revoke"), "{}")
        .await;
    assert_eq!(status, 200);
    let (expired, _) = key(&api, &tenant_body(r#", "expires_in_seconds": 1"#)).await;
    let (finance, _) = key(&api, r#"{"role": "finance"}"#).await;
    let (tenant, _) = key(&api, &tenant_body("")).await;
    let (node, _) = key(
        &api,
        &format!(r#"{{"role": "node", "node": "{OWN_NODE}"}}"#),
    )
    .await;
    let (portal, _) = key(&api, &format!(r#"{{"role": "portal", "tenant": "{OWN}"}}"#)).await;
    let (_, spare_key) = key(&api, r#"{"role": "finance", "label": "spare"}"#).await;
    let unknown = KeySecret::new(Role::Tenant, [0x5a; KEY_SECRET_BYTES]);
    tokio::time::sleep(Duration::from_millis(1100)).await; // the expired key's second passes

    let caller = |authorization: Option<String>, tenant, node, fixtures: &Fixtures| Caller {
        authorization,
        tenant,
        node,
        invoice: fixtures.invoice.clone(),
        credit_note: fixtures.credit_note.clone(),
        allocation: fixtures.allocation.clone(),
    };
    let callers: BTreeMap<&str, Caller> = [
        ("none", caller(None, OWN, OWN_NODE, &own)),
        (
            "malformed",
            caller(bearer("not-a-key"), OWN, OWN_NODE, &own),
        ),
        (
            "unknown",
            caller(bearer(unknown.expose()), OWN, OWN_NODE, &own),
        ),
        ("revoked", caller(bearer(&revoked), OWN, OWN_NODE, &own)),
        ("expired", caller(bearer(&expired), OWN, OWN_NODE, &own)),
        ("admin", caller(bearer(&api.admin_key), OWN, OWN_NODE, &own)),
        ("finance", caller(bearer(&finance), OWN, OWN_NODE, &own)),
        ("tenant", caller(bearer(&tenant), OWN, OWN_NODE, &own)),
        ("other", caller(bearer(&tenant), OTHER, OWN_NODE, &other)),
        ("node", caller(bearer(&node), OWN, OWN_NODE, &own)),
        ("node_other", caller(bearer(&node), OWN, OTHER_NODE, &own)),
        ("portal", caller(bearer(&portal), OWN, OWN_NODE, &own)),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        matrix
            .columns
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        callers.keys().copied().collect::<BTreeSet<_>>(),
        "the matrix's columns are the callers of this test"
    );

    let mut failures = Vec::new();
    let mut cells = 0;
    for row in &matrix.route {
        assert_eq!(row.expect.len(), matrix.columns.len(), "{}", row.route);
        let (method, template) = row.request.split_once(' ').unwrap();
        for (column, expected) in matrix.columns.iter().zip(&row.expect) {
            let caller = &callers[column.as_str()];
            let path = fill(template, caller, &spare_key);
            let body = row
                .body
                .as_deref()
                .map(|body| fill(body, caller, &spare_key));
            let reply = api
                .raw(
                    method,
                    &path,
                    caller.authorization.as_deref(),
                    body.as_deref(),
                )
                .await;
            let what = format!("{method} {path} as {column}");
            check_envelope(&reply, &what);
            cells += 1;
            if reply.status != *expected {
                failures.push(format!(
                    "{what}: expected {expected}, got {} {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "access matrix: {cells} cells ({} routes x {} callers)",
        matrix.route.len(),
        matrix.columns.len()
    );
    api.stop().await;
}

/// A tenant's key asking for another tenant's invoice, credit note, allocation or tenant gets
/// the very answer it would get for one that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_resources_look_exactly_like_missing_ones() {
    let env = TestEnv::new().await;
    book_months(&env, OTHER).await;
    let api = env.start_api().await;
    let other = fixtures(&api, OTHER).await;
    let (tenant, _) = key(&api, &format!(r#"{{"role": "tenant", "tenant": "{OWN}"}}"#)).await;
    let answer = |path: String| {
        let api = &api;
        let tenant = tenant.clone();
        async move {
            let reply = api.request("GET", &path, Some(&tenant), None).await;
            (reply.status, reply.json())
        }
    };
    let pairs = [
        ("/v1/invoices/", other.invoice.as_str(), "INV-2026-999999"),
        (
            "/v1/credit-notes/",
            other.credit_note.as_str(),
            "CN-2026-999999",
        ),
        (
            "/v1/allocations/",
            other.allocation.as_str(),
            "00000000-0000-4000-8000-000000000000",
        ),
    ];
    for (prefix, theirs, missing) in pairs {
        let (status, body) = answer(format!("{prefix}{theirs}")).await;
        let (missing_status, missing_body) = answer(format!("{prefix}{missing}")).await;
        assert_eq!(status, missing_status, "{prefix}{theirs}: {body}");
        assert_eq!(body["code"], missing_body["code"], "{body}");
        assert_eq!(
            body["detail"].as_str().unwrap().replace(theirs, "ID"),
            missing_body["detail"]
                .as_str()
                .unwrap()
                .replace(missing, "ID"),
        );
    }
    for path in [
        "invoices",
        "credit",
        "contract",
        "allocations",
        "invoices/draft?period=2026-11",
    ] {
        let (status, body) = answer(format!("/v1/tenants/{OTHER}/{path}")).await;
        let (_, missing) = answer(format!("/v1/tenants/no-such-tenant/{path}")).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(
            body["detail"].as_str().unwrap().replace(OTHER, "ID"),
            missing["detail"]
                .as_str()
                .unwrap()
                .replace("no-such-tenant", "ID"),
            "{path}"
        );
    }
    // Releasing or allocating for another tenant: the same as for one that does not exist.
    let release = api
        .request(
            "POST",
            &format!("/v1/allocations/{}/release", other.allocation),
            Some(&tenant),
            None,
        )
        .await;
    assert_eq!(
        (release.status, release.json()["code"].as_str()),
        (404, Some("allocation_not_found"))
    );
    let (status, still) = api
        .get(&format!("/v1/allocations/{}", other.allocation))
        .await;
    assert_eq!(
        (status, still["status"].as_str()),
        (200, Some("running")),
        "{still}"
    );
    api.stop().await;
}
