//! `gpubill demo`: the whole path, driven by the scheduler. Starts the aggregator, the scheduler
//! and the API in this process, allocates GPUs over HTTP for the three tenants (whole GPUs on
//! demand, reserved and spot, and MIG instances), runs one agent per node involved, following the
//! scheduler, for `--seconds` of wall-clock time (the spot allocation is released half-way, the
//! rest at the end), waits until the ledger has caught up with the broker, then prints every
//! tenant's draft invoice (fetched over HTTP from the API) and the reconciliation of the
//! allocations against the metered usage, and keys to try the API with (finance, a tenant's).
//!
//! Each run makes new allocations, so its usage adds to the month's draft invoices. The static
//! allocations of `cluster.toml` (fixed workloads for tests and benchmarks) are not metered here;
//! the scheduler leaves their GPUs alone.

use crate::invoice_table;
use crate::pipeline::InProcessAggregator;
use crate::reconcile_table;
use crate::setup::prepare_ledger;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use gpubill_access::Authenticator;
use gpubill_access::audit::{self, Actor};
use gpubill_domain::access::{Binding, KeySpec, Role};
use gpubill_domain::{BillingPeriod, Tz};
use gpubill_platform::PgPool;
use gpubill_platform::config::Config;
use gpubill_platform::config::Secret;
use gpubill_platform::kafka::{DeliveredOffsets, ensure_topics};
use gpubill_platform::{Shutdown, ShutdownTrigger};
use gpubill_scheduler::reconcile::Reconciler;
use gpubill_scheduler::{Allocation, AllocationRequest};
use gpubill_schema::api::invoice::InvoiceView;
use gpubill_schema::api::portal::PortalLink;
use std::collections::BTreeSet;
use std::time::Instant;

/// Agents meter this long past the demo's end, so a poll made after every release has answered.
const AGENT_MARGIN: Duration = Duration::seconds(3);

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Wall-clock seconds the allocations run and are metered (the spot one is released
    /// half-way). With the default 10-second interval, each GPU reports about one event per
    /// 10 seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u32,
    /// Address for the API [default: http.bind]; the agents follow the scheduler there.
    #[arg(long)]
    bind: Option<String>,
    /// Stop after printing instead of serving the API until Ctrl-C.
    #[arg(long)]
    exit: bool,
    /// Give up if the ledger has not caught up with the broker after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
}

/// What the demo asks the scheduler for: tenant, SKU, units, class, spot priority.
const REQUESTS: [(&str, &str, u32, &str, i32); 5] = [
    ("mistral-lab", "H100-SXM5-80GB", 8, "on_demand", 0),
    ("mistral-lab", "H100-MIG-1g.10gb", 3, "on_demand", 0),
    ("helix-bio", "H100-SXM5-80GB", 4, "reserved", 0),
    ("nordic-nlp", "H100-SXM5-80GB", 2, "spot", 1),
    ("nordic-nlp", "H100-MIG-2g.20gb", 2, "on_demand", 0),
];

pub async fn run(
    config: &Config,
    args: DemoArgs,
    trigger: ShutdownTrigger,
    stop: Shutdown,
) -> Result<()> {
    if !(10..=86_400).contains(&args.seconds) {
        bail!("--seconds must be within 10..=86400, got {}", args.seconds);
    }
    let kafka = &config.settings.kafka;
    ensure_topics(kafka, &[&kafka.usage_topic, &kafka.dead_letter_topic])
        .await
        .with_context(|| format!("cannot reach Kafka at {} (kafka.brokers)", kafka.brokers))?;
    let pool = prepare_ledger(config).await?.pool;

    let mut aggregator = InProcessAggregator::start(config, pool.clone(), &stop);
    let bind = args
        .bind
        .clone()
        .unwrap_or_else(|| config.settings.http.bind.clone());
    let scheduler = gpubill_scheduler::Scheduler::start(config, pool.clone())
        .await
        .context("cannot start the scheduler")?;
    scheduler.spawn_background(stop.clone());
    let authenticator = Authenticator::start(pool.clone(), &config.settings.auth)
        .await
        .context("cannot read the API keys")?;
    authenticator.spawn_refresh(stop.clone());
    let keys = DemoKeys::make(config, &authenticator, &pool).await?;
    let (server, address) = gpubill_api::bind(
        gpubill_api::AppState::new(config, pool.clone(), scheduler, authenticator.clone()),
        &bind,
        &config.settings.http,
    )
    .with_context(|| format!("cannot listen on {bind} (http.bind, or --bind)"))?;
    let server_handle = server.handle();
    let api = tokio::spawn(server);
    let base = format!("http://{address}");

    // Metering starts before the first allocation does, so every stream starts at seq 1.
    let from = Utc::now()
        .duration_trunc(Duration::seconds(1))
        .context("cannot read the clock")?;
    let end = from + Duration::seconds(i64::from(args.seconds));
    println!(
        "gpubill demo: {} nodes, {} tenants; allocating through the scheduler at {base}",
        config.cluster.nodes.len(),
        config.cluster.tenants.len(),
    );
    let mut allocations = Vec::new();
    for (tenant, sku, gpus, class, priority) in REQUESTS {
        let body = AllocationRequest {
            tenant: tenant.into(),
            sku: sku.into(),
            gpus,
            class: Some(class.into()),
            priority,
            // Released by the demo; expires by itself if the demo is interrupted.
            max_duration_seconds: i64::from(args.seconds) + 300,
            idempotency_key: None,
        };
        let allocation: Allocation = http(
            &keys.admin,
            HttpCall::Post(
                format!("{base}/v1/allocations"),
                serde_json::to_string(&body)?,
            ),
        )
        .await
        .with_context(|| format!("allocating {gpus} × {sku} ({class}) for {tenant}"))?;
        allocations.push(allocation);
    }
    println!(
        "\n{:<36}  {:<12}  {:<18}  {:<9}  {:>5}  nodes",
        "allocation", "tenant", "sku", "class", "units"
    );
    for allocation in &allocations {
        let nodes: BTreeSet<&str> = allocation
            .placement
            .iter()
            .map(|g| g.node.as_str())
            .collect();
        println!(
            "{:<36}  {:<12}  {:<18}  {:<9}  {:>5}  {}",
            allocation.id,
            allocation.tenant,
            allocation.sku,
            allocation.class,
            allocation.gpus,
            nodes.into_iter().collect::<Vec<_>>().join(",")
        );
    }
    let nodes: BTreeSet<String> = allocations
        .iter()
        .flat_map(|a| a.placement.iter().map(|g| g.node.clone()))
        .collect();
    println!(
        "\nmetering {from} .. {end} on the wall clock: one agent per node ({}) following the scheduler",
        nodes.len()
    );

    let started = Instant::now();
    let mut agents = Vec::new();
    for node in nodes {
        let mut settings = config.settings.agent.clone();
        settings.scheduler_url = base.clone();
        // Each agent with the key of its own node, as on a real node.
        settings.api_key = Secret::new(
            DemoKeys::issue_one(
                config,
                &authenticator,
                &pool,
                Role::Node,
                Binding::Node(node.clone()),
            )
            .await?,
        );
        // One agent per spool directory.
        settings.spool_dir = settings.spool_dir.join(&node);
        let kafka = kafka.clone();
        let window = gpubill_agent::RunWindow {
            from,
            until: Some(end + AGENT_MARGIN),
            speed: 1.0,
        };
        let stop = stop.clone();
        agents.push(tokio::spawn(async move {
            let source = gpubill_agent::AllocationSource::Scheduler { node: &node };
            gpubill_agent::run_source(&kafka, &settings, source, window, stop)
                .await
                .with_context(|| format!("the agent of {node} failed"))
        }));
    }

    // The spot allocation ends half-way (its last interval is cut there), the others at the end.
    let releases = [
        (from + Duration::seconds(i64::from(args.seconds / 2)), true),
        (end, false),
    ];
    for (at, spot_only) in releases {
        sleep_until(at, &stop).await?;
        for allocation in allocations
            .iter()
            .filter(|a| (a.class == "spot") == spot_only)
        {
            let _: Allocation = http(
                &keys.admin,
                HttpCall::Post(
                    format!("{base}/v1/allocations/{}/release", allocation.id),
                    String::new(),
                ),
            )
            .await
            .with_context(|| format!("releasing {}", allocation.id))?;
        }
    }

    let mut delivered = DeliveredOffsets::default();
    let mut events = 0;
    for agent in agents {
        let report = agent.await.context("agent task failed")??;
        events += report.events;
        delivered.merge(&report.delivered);
    }
    let produced_in = started.elapsed();
    aggregator
        .wait_caught_up(
            config,
            &pool,
            &delivered,
            std::time::Duration::from_secs(args.timeout_seconds),
            &stop,
        )
        .await?;
    let counted = aggregator.stats.snapshot();

    for tenant in &config.cluster.tenants {
        for period in periods_between(from, end, tenant.time_zone) {
            let url = format!(
                "{base}/v1/tenants/{}/invoices/draft?period={period}",
                tenant.id
            );
            let invoice: InvoiceView = http(&keys.finance, HttpCall::Get(url)).await?;
            println!("\n{}", invoice_table::render(&invoice, &tenant.name));
        }
    }

    let reconciler = Reconciler::new(config);
    let now = Utc::now();
    let report = gpubill_platform::db::with_conn(&pool, move |conn| {
        reconciler
            .run(conn, from, now)
            .map_err(|error| anyhow::anyhow!(error))
    })
    .await?;
    println!("{}", reconcile_table::render(&report));

    println!(
        "events produced:        {:>10}  in {:.2?}",
        events, produced_in
    );
    println!("events billed:          {:>10}", counted.applied);
    println!("duplicates dropped:     {:>10}", counted.duplicates);
    println!("dead-lettered:          {:>10}", counted.dead_lettered);
    println!("ledger batches:         {:>10}", counted.batches);
    keys.print(&base, BillingPeriod::containing_in(end, keys.tenant_zone));
    print_portal_links(config, &keys, &base).await?;

    if !args.exit {
        println!("serving until Ctrl-C");
        let mut waiting = stop.clone();
        waiting.triggered().await;
    }
    trigger.trigger();
    server_handle.stop(true).await;
    let _ = api.await;
    aggregator.stop().await
}

/// The keys the demo makes: an admin key for its own calls, and a finance key and a tenant key
/// printed for the newcomer to try the API with. Shown once; only their hashes are stored.
struct DemoKeys {
    admin: String,
    finance: String,
    tenant: String,
    tenant_id: String,
    tenant_zone: Tz,
}

impl DemoKeys {
    async fn make(config: &Config, authenticator: &Authenticator, pool: &PgPool) -> Result<Self> {
        let tenant = config
            .cluster
            .tenants
            .first()
            .context("cluster.toml has no tenant")?;
        let issue = |role, binding| Self::issue_one(config, authenticator, pool, role, binding);
        Ok(DemoKeys {
            admin: issue(Role::Admin, Binding::None).await?,
            finance: issue(Role::Finance, Binding::None).await?,
            tenant: issue(Role::Tenant, Binding::Tenant(tenant.id.clone())).await?,
            tenant_id: tenant.id.clone(),
            tenant_zone: tenant.time_zone,
        })
    }

    /// Issues a key labelled `demo`, audited as the operator's.
    async fn issue_one(
        config: &Config,
        authenticator: &Authenticator,
        pool: &PgPool,
        role: Role,
        binding: Binding,
    ) -> Result<String> {
        let spec = KeySpec {
            role,
            binding,
            expires_at: None,
            label: "demo".into(),
            parent: None,
        };
        let issued = authenticator
            .issue(
                std::sync::Arc::new(config.cluster.clone()),
                spec,
                Actor::operator().name(),
                Utc::now(),
            )
            .await
            .with_context(|| format!("cannot issue the demo's {role} key"))?;
        let (id, tenant) = (issued.key.id.to_string(), issued.key.tenant.clone());
        gpubill_platform::db::with_conn(pool, move |conn| {
            let targets = [("key".to_owned(), id)].into();
            audit::append_command(conn, "gpubill demo", tenant, targets, true)
                .context("cannot write the audit trail")
        })
        .await?;
        Ok(issued.secret.expose().to_owned())
    }

    fn print(&self, base: &str, period: BillingPeriod) {
        println!(
            "\nAPI: {base}   API keys made by this demo (shown once; only their hashes are stored):"
        );
        println!("  finance      {}", self.finance);
        println!("  {:<12} {}", self.tenant_id, self.tenant);
        println!("try:");
        println!(
            "  curl -H 'Authorization: Bearer {}' '{base}/v1/tenants/{}/invoices/draft?period={period}'",
            self.tenant, self.tenant_id
        );
        println!(
            "  curl -H 'Authorization: Bearer {}' '{base}/v1/reconciliation'",
            self.finance
        );
        println!(
            "  curl -OJ -H 'Authorization: Bearer {}' '{base}/v1/tenants/{}/exports/focus?period={period}'",
            self.tenant, self.tenant_id
        );
        println!(
            "  curl -OJ -H 'Authorization: Bearer {}' '{base}/v1/exports/fec?year={}'",
            self.finance,
            period.first_day().year()
        );
        println!(
            "  curl -H 'Authorization: Bearer {}' '{base}/v1/exports/trial-balance?at={}'",
            self.finance,
            Utc::now().format("%Y-%m-%d")
        );
    }
}

/// A one-time sign-in link to the customer portal for each tenant, minted with the finance key
/// as a provider's back end would mint them.
async fn print_portal_links(config: &Config, keys: &DemoKeys, base: &str) -> Result<()> {
    println!(
        "\ncustomer portal, one sign-in link per tenant (each opens once, within its expiry):"
    );
    let mut expires_at = None;
    for tenant in &config.cluster.tenants {
        let link: PortalLink = http(
            &keys.finance,
            HttpCall::Post(
                format!("{base}/v1/tenants/{}/portal-sessions", tenant.id),
                String::new(),
            ),
        )
        .await
        .with_context(|| format!("minting a portal link for {}", tenant.id))?;
        println!("  {:<12} {}", tenant.id, link.url);
        expires_at = Some(link.expires_at);
    }
    if let Some(expires_at) = expires_at {
        println!(
            "  (valid until {}; sign in at {base}/portal/ with the tenant key above, or mint a new link:",
            expires_at.format("%H:%M:%S UTC")
        );
        println!(
            "   curl -X POST -H 'Authorization: Bearer {}' '{base}/v1/tenants/{}/portal-sessions')",
            keys.finance, keys.tenant_id
        );
    }
    Ok(())
}

/// Sleeps until the wall-clock instant `at`; fails on shutdown.
async fn sleep_until(at: DateTime<Utc>, stop: &Shutdown) -> Result<()> {
    let wait = (at - Utc::now()).to_std().unwrap_or_default();
    let mut stop = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(()),
        _ = stop.triggered() => bail!("interrupted"),
    }
}

/// The months of `time_zone` that `[from, until)` touches.
fn periods_between(from: DateTime<Utc>, until: DateTime<Utc>, time_zone: Tz) -> Vec<BillingPeriod> {
    let mut periods = vec![BillingPeriod::containing_in(from, time_zone)];
    while let Some(last) = periods.last().copied() {
        if last.end_in(time_zone) >= until {
            break;
        }
        periods.push(last.next());
    }
    periods
}

enum HttpCall {
    Get(String),
    Post(String, String),
}

/// One call to the API with `key`; a non-2xx answer fails with the API's error code and message.
async fn http<T: serde::de::DeserializeOwned + Send + 'static>(
    key: &str,
    call: HttpCall,
) -> Result<T> {
    let authorization = format!("Bearer {key}");
    tokio::task::spawn_blocking(move || -> Result<T> {
        let client: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let (shown, response) = match call {
            HttpCall::Get(url) => (
                format!("GET {url}"),
                client
                    .get(&url)
                    .header("authorization", &authorization)
                    .call(),
            ),
            HttpCall::Post(url, body) => (
                format!("POST {url}"),
                client
                    .post(&url)
                    .header("authorization", &authorization)
                    .header("content-type", "application/json")
                    .send(body),
            ),
        };
        let mut response = response.with_context(|| shown.clone())?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| shown.clone())?;
        if !status.is_success() {
            bail!("{shown}: HTTP {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{shown}: unexpected body"))
    })
    .await
    .context("HTTP client task failed")?
}
