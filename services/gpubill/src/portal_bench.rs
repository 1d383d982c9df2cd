//! `gpubill bench-portal`: how long the portal's overview takes to answer for a tenant with a
//! month of usage. On a database of its own (`gpubill_bench_<id>`, dropped afterwards) it meters
//! `--gpus` GPUs of mistral-lab every hour of the current month, booked as the aggregator books
//! them (`--bookings` usage accruals, one per batch), then times `--requests` overviews: first
//! the server's own work (`gpubill_api::overview`, no HTTP), then `GET
//! /v1/tenants/{tenant}/overview` over loopback HTTP with a tenant key, and the usage page's call
//! (the month by day, split by SKU and class). Prints the median, the 95th and 99th percentiles
//! and the maximum.

use crate::bench::on_scratch_database;
use crate::export_bench::{TENANT, load_usage};
use crate::setup;
use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};
use gpubill_access::Authenticator;
use gpubill_domain::BillingPeriod;
use gpubill_domain::access::{Binding, KeySpec, Role};
use gpubill_platform::config::Config;
use gpubill_platform::db::with_conn;
use std::time::{Duration, Instant};

/// How many times the usage page's call is timed, at most.
const USAGE_REQUESTS: usize = 20;

#[derive(Debug, clap::Args)]
pub struct BenchPortalArgs {
    /// GPUs of the tenant metered every hour of the current month.
    #[arg(long, default_value_t = 512)]
    gpus: i64,
    /// Usage accruals the month is booked in (the aggregator books one per batch: one every
    /// two minutes is 22,320 a month).
    #[arg(long, default_value_t = 22_320)]
    bookings: i64,
    /// Overviews to time, each way.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Keep the bench database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
}

pub async fn run(config: &Config, args: BenchPortalArgs) -> Result<()> {
    anyhow::ensure!(
        args.gpus >= 1 && args.bookings >= 1 && args.requests >= 1,
        "--gpus, --bookings and --requests ≥ 1"
    );
    on_scratch_database(config, args.keep, |config| async move {
        measure(&config, &args).await
    })
    .await
}

async fn measure(config: &Config, args: &BenchPortalArgs) -> Result<()> {
    let pool = setup::prepare_ledger(config).await?.pool;
    let time_zone = config
        .cluster
        .tenants
        .iter()
        .find(|tenant| tenant.id == TENANT)
        .context("cluster.toml has no mistral-lab")?
        .time_zone;
    let period = BillingPeriod::containing_in(Utc::now(), time_zone);
    let (gpus, bookings) = (args.gpus, args.bookings);
    let started = Instant::now();
    with_conn(&pool, move |conn| load_usage(conn, gpus, period, bookings)).await?;
    println!(
        "{gpus} GPUs metered hourly over {period}, booked in {bookings} accruals, in {:.1?}",
        started.elapsed()
    );

    let scheduler = gpubill_scheduler::Scheduler::start(config, pool.clone())
        .await
        .context("cannot start the scheduler")?;
    let authenticator = Authenticator::start(pool.clone(), &config.settings.auth)
        .await
        .context("cannot read the API keys")?;
    let (stop_refresh, stopped) = gpubill_platform::shutdown::channel();
    authenticator.spawn_refresh(stopped);
    let state = gpubill_api::AppState::new(config, pool.clone(), scheduler, authenticator.clone());

    let first = gpubill_api::overview::overview(&state, TENANT.to_owned(), Utc::now())
        .await
        .map_err(|error| anyhow::anyhow!("overview: {error}"))?;
    println!(
        "month to date: net {} EUR, total {}; projected total {}",
        first.month_to_date.net,
        first.month_to_date.total,
        first
            .projected
            .as_ref()
            .map_or_else(|| "-".to_owned(), |projected| projected.total.to_string()),
    );
    let mut times = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        let started = Instant::now();
        gpubill_api::overview::overview(&state, TENANT.to_owned(), Utc::now())
            .await
            .map_err(|error| anyhow::anyhow!("overview: {error}"))?;
        times.push(started.elapsed());
    }
    report("overview, server time", &mut times);

    let key = tenant_key(config, &authenticator).await?;
    let (server, address) = gpubill_api::bind(state, "127.0.0.1:0", &config.settings.http)
        .context("cannot bind the API")?;
    let handle = server.handle();
    let api = tokio::spawn(server);
    let base = format!("http://{address}");
    let overview_url = format!("{base}/v1/tenants/{TENANT}/overview");
    let mut times = time_gets(&overview_url, &key, args.requests).await?;
    report("GET overview over HTTP", &mut times);
    let (from, to) = (period.start_in(time_zone), period.end_in(time_zone));
    let usage_url = format!(
        "{base}/v1/tenants/{TENANT}/usage?from={}&to={}&granularity=day&group_by=sku,price_class",
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        to.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    // The usage page's call reads every metered hour of the month: fewer of them.
    let mut times = time_gets(&usage_url, &key, args.requests.min(USAGE_REQUESTS)).await?;
    report("GET usage (day) over HTTP", &mut times);
    handle.stop(true).await;
    stop_refresh.trigger();
    let _ = api.await;
    Ok(())
}

async fn tenant_key(config: &Config, authenticator: &Authenticator) -> Result<String> {
    let spec = KeySpec {
        role: Role::Tenant,
        binding: Binding::Tenant(TENANT.to_owned()),
        expires_at: None,
        label: "bench-portal".into(),
        parent: None,
    };
    let issued = authenticator
        .issue(
            std::sync::Arc::new(config.cluster.clone()),
            spec,
            "cli:bench-portal".into(),
            Utc::now(),
        )
        .await?;
    Ok(issued.secret.expose().to_owned())
}

/// Times `count` GETs of `url` with `key`, one after the other.
async fn time_gets(url: &str, key: &str, count: usize) -> Result<Vec<Duration>> {
    let (url, authorization) = (url.to_owned(), format!("Bearer {key}"));
    tokio::task::spawn_blocking(move || -> Result<Vec<Duration>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            let mut response = agent
                .get(&url)
                .header("authorization", &authorization)
                .call()
                .with_context(|| format!("GET {url}"))?;
            let body = response.body_mut().read_to_vec()?;
            times.push(started.elapsed());
            anyhow::ensure!(
                response.status() == 200,
                "GET {url}: {} {}",
                response.status(),
                String::from_utf8_lossy(&body)
            );
        }
        Ok(times)
    })
    .await
    .context("HTTP task failed")?
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |quantile: f64| {
        let index = ((times.len() as f64 * quantile).ceil() as usize).clamp(1, times.len()) - 1;
        times[index]
    };
    println!(
        "{what:<30} n={:<5} p50 {:>8.2?}  p95 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
        times.len(),
        at(0.50),
        at(0.95),
        at(0.99),
        times[times.len() - 1],
    );
}
