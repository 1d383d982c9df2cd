//! The customer portal. Sign-in links open one read-only session, once; a session is an
//! HttpOnly, SameSite=Strict cookie that reads the API and changes nothing, and ends with sign-out
//! or with the key it was opened with; its forms need their CSRF token; the overview adds up to
//! the draft invoice and the credit route. Then the pages themselves in headless Chromium
//! (`tests/portal/e2e.mjs`): every page, the figures equal to the API's, the CSV, another
//! tenant's allocation, a tenant named like an HTML tag, an empty tenant, accessibility, and a
//! screenshot of each page.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use chrono::{DurationRound, Utc};
use gpubill_domain::PriceClass;
use gpubill_platform::config::{AllocationSpec, Cluster};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use support::{Reply, RunningApi, TestEnv};

/// Two tenants the portal must cope with, besides those of `cluster.toml`.
const EXTRA_TENANTS: &str = r#"
[[tenant]]
id = "xss-lab"
name = "<img src=x onerror=alert(1)>"
country = "FR"
time_zone = "Europe/Paris"

[tenant.quota]
concurrent = { "H100-SXM5-80GB" = 8 }
gpu_hours_per_month = "1000"
budget_per_month = "5000.00"

[[tenant]]
id = "quiet-lab"
name = "Quiet Lab SARL"
country = "FR"
time_zone = "Europe/Paris"

[tenant.quota]
concurrent = { "H100-SXM5-80GB" = 8 }
gpu_hours_per_month = "1000"
budget_per_month = "5000.00"
"#;

fn decimal(value: &serde_json::Value) -> Decimal {
    Decimal::from_str(
        value
            .as_str()
            .unwrap_or_else(|| panic!("a decimal: {value}")),
    )
    .unwrap()
}

/// The value of cookie `name` among a reply's `Set-Cookie` headers, and the whole header.
fn set_cookie<'a>(reply: &'a Reply, name: &str) -> Option<(&'a str, &'a str)> {
    reply
        .headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| {
            let (pair, _) = value.split_once(';')?;
            let (cookie, content) = pair.split_once('=')?;
            (cookie == name).then_some((content, value.as_str()))
        })
}

/// The value of the hidden `csrf` field of a page.
fn csrf_field(reply: &Reply) -> String {
    let html = String::from_utf8_lossy(&reply.body);
    let (_, rest) = html
        .split_once("name=\"csrf\" value=\"")
        .expect("a page with a CSRF field");
    rest.split('"').next().unwrap().to_owned()
}

fn body_text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Mints a link for `tenant` with `key` and returns its path (`/portal/session?token=…`).
async fn mint(api: &RunningApi, tenant: &str, key: &str) -> String {
    let reply = api
        .request(
            "POST",
            &format!("/v1/tenants/{tenant}/portal-sessions"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", body_text(&reply));
    let link = reply.json();
    let url = link["url"].as_str().unwrap();
    let base = format!("http://{}", api.address);
    assert!(
        url.starts_with(&format!("{base}/portal/session?token=gpl_")),
        "{url}"
    );
    assert_eq!(link["session_expires_in_seconds"], 3600);
    url[base.len()..].to_owned()
}

/// Opens the link at `path` and returns the session cookie's value.
async fn open(api: &RunningApi, path: &str) -> String {
    let reply = api.browser("GET", path, &[], None).await;
    assert_eq!(reply.status, 303, "{}", body_text(&reply));
    assert_eq!(reply.header("location"), Some("/portal/"));
    let (session, header) = set_cookie(&reply, "gpubill_session").expect("a session cookie");
    assert!(session.starts_with("gpb_portal_"), "{header}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(header.contains(flag), "{flag} in {header}");
    }
    // Plain HTTP here: `Secure` only behind an https portal.public_url.
    assert!(!header.contains("Secure"), "{header}");
    session.to_owned()
}

/// A form posted by a page of `origin` with `cookie`.
async fn post_form(api: &RunningApi, path: &str, cookie: &str, origin: &str, body: &str) -> Reply {
    let headers = [
        ("Cookie", cookie),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", origin),
    ];
    api.browser("POST", path, &headers, Some(body)).await
}

async fn with_cookie(api: &RunningApi, method: &str, path: &str, session: &str) -> Reply {
    let cookie = format!("gpubill_session={session}");
    api.browser(method, path, &[("Cookie", &cookie)], None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_opens_one_read_only_session_that_sign_out_ends() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (tenant_key, _) = api
        .issue_key(r#"{"role": "tenant", "tenant": "mistral-lab"}"#)
        .await;
    let link = mint(&api, "mistral-lab", &tenant_key).await;
    let session = open(&api, &link).await;

    // A link is a secret shown once: an Idempotency-Key does not make the API keep it to replay.
    let mut urls = Vec::new();
    for _ in 0..2 {
        let authorization = format!("Bearer {tenant_key}");
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Idempotency-Key", "same-request"),
        ];
        let reply = api
            .browser(
                "POST",
                "/v1/tenants/mistral-lab/portal-sessions",
                &headers,
                None,
            )
            .await;
        assert_eq!(reply.status, 201);
        assert_eq!(reply.header("idempotent-replayed"), None);
        urls.push(reply.json()["url"].as_str().unwrap().to_owned());
    }
    assert_ne!(urls[0], urls[1]);

    // Once only.
    let again = api.browser("GET", &link, &[], None).await;
    assert_eq!(again.status, 401);
    assert!(body_text(&again).contains("data-message-code=\"portal_link_invalid\""));
    assert!(body_text(&again).contains("already used"));
    let forged = api
        .browser(
            "GET",
            &format!("/portal/session?token=gpl_{}", "0".repeat(64)),
            &[],
            None,
        )
        .await;
    assert_eq!(forged.status, 401);

    // The session reads its own tenant's figures, and nothing else, and changes nothing.
    let overview = with_cookie(&api, "GET", "/v1/tenants/mistral-lab/overview", &session).await;
    assert_eq!(overview.status, 200);
    assert_eq!(overview.header("cache-control"), Some("private, no-store"));
    let other = with_cookie(&api, "GET", "/v1/tenants/helix-bio/overview", &session).await;
    assert_eq!(other.status, 404);
    assert_eq!(other.json()["code"], "tenant_not_found");
    for (method, path) in [
        ("POST", "/v1/tenants/mistral-lab/portal-sessions"),
        ("POST", "/v1/allocations"),
        ("POST", "/v1/api-keys"),
    ] {
        let refused = with_cookie(&api, method, path, &session).await;
        assert_eq!(
            refused.status, 401,
            "a cookie never authorizes {method} {path}"
        );
    }

    // The page: the app, its strict policy, never cached.
    let page = with_cookie(&api, "GET", "/portal/", &session).await;
    assert_eq!(page.status, 200);
    let html = body_text(&page);
    assert!(html.contains("<meta name=\"gpubill-tenant\" content=\"mistral-lab\">"));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"));
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(page.header("cache-control"), Some("no-store, private"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let csrf = csrf_field(&page);

    // Sign-out needs the session's own token, from this origin.
    let cookie = format!("gpubill_session={session}");
    let origin = format!("http://{}", api.address);
    let no_token = post_form(&api, "/portal/sign-out", &cookie, &origin, "csrf=").await;
    assert_eq!(no_token.status, 403);
    assert!(body_text(&no_token).contains("data-message-code=\"csrf_rejected\""));
    let token = format!("csrf={csrf}");
    let elsewhere = post_form(
        &api,
        "/portal/sign-out",
        &cookie,
        "https://evil.example",
        &token,
    )
    .await;
    assert_eq!(elsewhere.status, 403);
    assert_eq!(
        with_cookie(&api, "GET", "/v1/tenants/mistral-lab/overview", &session)
            .await
            .status,
        200,
        "a refused sign-out changes nothing"
    );
    let signed_out = post_form(&api, "/portal/sign-out", &cookie, &origin, &token).await;
    assert_eq!(signed_out.status, 303);
    let (cleared, header) = set_cookie(&signed_out, "gpubill_session").unwrap();
    assert!(
        cleared.is_empty() && header.contains("Max-Age=0"),
        "{header}"
    );
    let after = with_cookie(&api, "GET", "/v1/tenants/mistral-lab/overview", &session).await;
    assert_eq!(after.status, 401);
    let page = with_cookie(&api, "GET", "/portal/", &session).await;
    assert!(body_text(&page).contains("data-page=\"sign-in\""));

    // Minting, opening and signing out are in the audit trail.
    let (status, audit) = api.get("/v1/audit?tenant=mistral-lab").await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["action"].as_str().unwrap())
        .collect();
    for action in [
        "POST /v1/tenants/{tenant}/portal-sessions",
        "GET /portal/session",
        "POST /portal/sign-out",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_tenant_key_signs_in_and_revoking_it_ends_its_sessions() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (tenant_key, tenant_key_id) = api
        .issue_key(r#"{"role": "tenant", "tenant": "mistral-lab"}"#)
        .await;
    let (finance_key, _) = api.issue_key(r#"{"role": "finance"}"#).await;
    let origin = format!("http://{}", api.address);

    // The sign-in page sets its form's token in a cookie too (double submit).
    let form_page = api.browser("GET", "/portal/", &[], None).await;
    assert_eq!(form_page.status, 200);
    let csrf = csrf_field(&form_page);
    let (cookie_token, _) = set_cookie(&form_page, "gpubill_sign_in").unwrap();
    assert_eq!(cookie_token, csrf);
    let cookie = format!("gpubill_sign_in={csrf}");
    let sign_in = |key: String, token: String| {
        let (api, origin, cookie) = (&api, origin.clone(), cookie.clone());
        async move {
            let body = format!("key={key}&csrf={token}");
            post_form(api, "/portal/sign-in", &cookie, &origin, &body).await
        }
    };
    let forged = sign_in(tenant_key.clone(), "f".repeat(64)).await;
    assert_eq!(forged.status, 403);
    let finance = sign_in(finance_key, csrf.clone()).await;
    assert_eq!(finance.status, 401);
    assert!(body_text(&finance).contains("data-message-code=\"portal_sign_in_refused\""));
    let signed_in = sign_in(tenant_key.clone(), csrf.clone()).await;
    assert_eq!(signed_in.status, 303, "{}", body_text(&signed_in));
    let (session, _) = set_cookie(&signed_in, "gpubill_session").unwrap();
    let session = session.to_owned();
    let every_header: String = signed_in
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect();
    assert!(
        !every_header.contains(&tenant_key),
        "the key itself never goes back to the browser"
    );
    assert_eq!(
        with_cookie(&api, "GET", "/v1/tenants/mistral-lab/credit", &session)
            .await
            .status,
        200
    );
    // A link minted with the same key opens a second session under it.
    let second = open(&api, &mint(&api, "mistral-lab", &tenant_key).await).await;

    let (status, _) = api
        .send(
            "POST",
            &format!("/v1/api-keys/{tenant_key_id}/revoke"),
            "{}",
        )
        .await;
    assert_eq!(status, 200);
    for session in [&session, &second] {
        let refused = with_cookie(&api, "GET", "/v1/tenants/mistral-lab/credit", session).await;
        assert_eq!(
            refused.status, 401,
            "revoking the key ends its sessions at once"
        );
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_expires_unused() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (tenant_key, _) = api
        .issue_key(r#"{"role": "tenant", "tenant": "helix-bio"}"#)
        .await;
    let link = mint(&api, "helix-bio", &tenant_key).await;
    let token = link.split_once("token=").unwrap().1.to_owned();
    let cluster = env.config.cluster.clone();
    let late = Utc::now() + chrono::Duration::seconds(env.config.settings.portal.link_seconds + 1);
    let refused = env
        .conn(move |conn| {
            gpubill_access::portal_links::redeem(conn, &cluster, &token, late, 3600)
                .map(|issued| issued.key.id)
                .map_err(|error| error.to_string())
        })
        .await;
    assert_eq!(
        refused.unwrap_err(),
        "this sign-in link has expired: ask for a new one"
    );
    // Still unused: it opens now, within its time.
    open(&api, &link).await;
    api.stop().await;
}

/// `small_cluster`'s node with allocations started at `started` for mistral-lab
/// (two on-demand GPUs and a spot one) and helix-bio (one on-demand GPU).
fn this_month_cluster(base: &Cluster, started: chrono::DateTime<Utc>) -> Cluster {
    let allocation = |id: &str, tenant: &str, gpus: Vec<u8>, class| AllocationSpec {
        id: id.into(),
        tenant: tenant.into(),
        node: "node-001".into(),
        gpus,
        started_at: started,
        price_class: class,
    };
    Cluster {
        allocations: vec![
            allocation("p-1", "mistral-lab", vec![0, 1], PriceClass::OnDemand),
            allocation("p-2", "mistral-lab", vec![2], PriceClass::Spot),
            allocation("p-3", "helix-bio", vec![3], PriceClass::OnDemand),
        ],
        ..support::small_cluster(base)
    }
}

/// The test month's invoices (October, November), usage metered this month, a running
/// allocation per tenant; returns mistral-lab's and helix-bio's allocation ids.
async fn portal_data(env: &TestEnv, api: &RunningApi) -> (String, String) {
    env.conn(support::test_month::test_month).await;
    let now = Utc::now();
    let started = (now - chrono::Duration::hours(3))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let cluster = this_month_cluster(&env.config.cluster, started);
    let until = (now - chrono::Duration::minutes(5)).to_rfc3339();
    support::meter_cluster(env, &cluster, &started.to_rfc3339(), &until).await;
    env.run_aggregator_until_caught_up().await;
    let mut ids = Vec::new();
    for tenant in ["mistral-lab", "helix-bio"] {
        let body = format!(
            r#"{{"tenant": "{tenant}", "sku": "H100-SXM5-80GB", "gpus": 8, "class": "on_demand", "max_duration_seconds": 7200}}"#
        );
        let (status, allocation) = api.send("POST", "/v1/allocations", &body).await;
        assert_eq!(status, 201, "{allocation}");
        ids.push(allocation["id"].as_str().unwrap().to_owned());
    }
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_adds_up_to_the_draft_and_the_credit() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    portal_data(&env, &api).await;
    let (status, overview) = api.get("/v1/tenants/helix-bio/overview").await;
    assert_eq!(status, 200, "{overview}");
    let period = overview["period"].as_str().unwrap();
    let (_, draft) = api
        .get(&format!(
            "/v1/tenants/helix-bio/invoices/draft?period={period}"
        ))
        .await;
    let (_, credit) = api.get("/v1/tenants/helix-bio/credit").await;
    let month = &overview["month_to_date"];
    for (figure, field) in [
        ("net", "net_total"),
        ("vat", "vat_total"),
        ("total", "total"),
        ("credit_applied", "credit_applied"),
        ("amount_due", "amount_due"),
    ] {
        assert_eq!(month[figure], draft[field], "{figure}");
    }
    assert!(
        decimal(&month["net"]) > Decimal::ZERO,
        "usage metered this month: {overview}"
    );
    assert_eq!(overview["credit_balance"], credit["balance"]);
    assert_eq!(overview["tenant_name"], "Helix Bio GmbH");
    assert_eq!(overview["time_zone"], "Europe/Berlin");
    assert_eq!(overview["running_allocations"], 1);

    // The running allocation: 8 GPUs at the on-demand list price, until its end or the month's.
    let projected = &overview["projected"];
    let (_, book) = api.get("/v1/price-book").await;
    let price = book["skus"]
        .as_array()
        .and_then(|skus| skus.iter().find(|sku| sku["sku"] == "H100-SXM5-80GB"))
        .map(|sku| decimal(&sku["versions"][0]["prices"]["on_demand"]));
    let rate = decimal(&projected["run_rate_per_hour"]);
    if let Some(price) = price {
        // cluster.toml's static allocation of helix-bio (4 GPUs) runs too, at its class's price.
        assert!(rate >= Decimal::from(8) * price, "{rate} vs 8 × {price}");
    }
    assert!(decimal(&projected["net"]) > decimal(&month["net"]));
    assert_eq!(
        decimal(&projected["total"]),
        decimal(&projected["net"]) + decimal(&projected["vat"])
    );

    // Quota: what the scheduler counts, against the caps of cluster.toml.
    let quota = &overview["quota"];
    assert_eq!(quota["budget"]["cap"], "180000.00");
    assert_eq!(quota["gpu_hours"]["cap"], "60000");
    let concurrent = &quota["concurrent"][0];
    assert_eq!(concurrent["sku"], "H100-SXM5-80GB");
    assert_eq!(concurrent["cap"], "128");
    let used = decimal(&concurrent["used"]);
    assert!(used >= Decimal::from(8), "{concurrent}");
    assert_eq!(concurrent["level"], "ok");
    assert_eq!(
        decimal(&concurrent["percent"]),
        (used * Decimal::ONE_HUNDRED / Decimal::from(128)).round_dp(2)
    );
    api.stop().await;
}

/// Where the browser test keeps its screenshots: `PORTAL_SCREENSHOTS_DIR` (make test sets it
/// under `.run/`), else `target/portal-screenshots`.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("PORTAL_SCREENSHOTS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/portal-screenshots"),
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_headless_chromium() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/portal");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "the browser test's packages are missing: run scripts/portal-deps.sh (make test does)"
    );
    let env = TestEnv::with_cluster_additions(&[], EXTRA_TENANTS).await;
    let api = env.start_api().await;
    let (own_allocation, foreign_allocation) = portal_data(&env, &api).await;
    let (finance_key, _) = api.issue_key(r#"{"role": "finance"}"#).await;
    let (tenant_key, _) = api
        .issue_key(r#"{"role": "tenant", "tenant": "mistral-lab"}"#)
        .await;
    let base = format!("http://{}", api.address);
    let link = |tenant: &'static str| {
        let (api, key, base) = (&api, finance_key.clone(), base.clone());
        async move { format!("{base}{}", mint(api, tenant, &key).await) }
    };
    let screenshots = screenshot_dir();
    std::fs::create_dir_all(&screenshots).unwrap();
    // For working on the page: `PORTAL_DEV_SECONDS=N` keeps this server up N seconds first and
    // prints how to reach it (a debug build reads the page's files from the source tree).
    if let Some(seconds) = std::env::var("PORTAL_DEV_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!(
            "API_BASE={base} TENANT=mistral-lab TENANT_KEY={tenant_key} \
             FOREIGN_ALLOCATION_ID={foreign_allocation} OWN_ALLOCATION_ID={own_allocation}\n\
             finance key (mints links: POST {base}/v1/tenants/{{mistral-lab|xss-lab|quiet-lab}}/portal-sessions): {finance_key}"
        );
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
    let mut node = std::process::Command::new("node");
    node.arg("e2e.mjs")
        .current_dir(&e2e)
        .env("PORTAL_LINK", link("mistral-lab").await)
        .env("XSS_PORTAL_LINK", link("xss-lab").await)
        .env("EMPTY_PORTAL_LINK", link("quiet-lab").await)
        .env("API_BASE", &base)
        .env("TENANT", "mistral-lab")
        .env("TENANT_KEY", &tenant_key)
        .env("FOREIGN_ALLOCATION_ID", &foreign_allocation)
        .env("OWN_ALLOCATION_ID", &own_allocation)
        .env("SCREENSHOT_DIR", &screenshots);
    let output = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("run node (Node.js 20 or later)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .expect("the e2e script's summary line");
    assert!(output.status.success(), "browser checks failed: {summary}");
    assert_eq!(summary["failed"], 0);
    assert!(summary["checks"].as_u64().unwrap() >= 50, "{summary}");
    for (page, counts) in summary["axe"].as_object().unwrap() {
        assert_eq!(counts["serious"], 0, "{page}");
        assert_eq!(counts["critical"], 0, "{page}");
    }
    for shot in [
        "overview.png",
        "usage.png",
        "allocations.png",
        "invoices.png",
        "credit.png",
    ] {
        assert!(screenshots.join(shot).is_file(), "{shot}");
    }
    api.stop().await;
}
