//! `gpubill demo`: the whole path on the demo cluster. Starts the aggregator and the API in this
//! process, meters an accelerated period with the agent, waits until the ledger has caught up
//! with the broker, then prints every tenant's draft invoice (fetched over HTTP from the API) and
//! the end-to-end rate.
//!
//! The demo window is fixed by `cluster.toml` (its earliest allocation start plus `--hours`), so
//! running the demo again re-sends the same events and the ledger drops them all as duplicates:
//! the invoices do not change.

use crate::invoice_table::{self, Invoice};
use crate::pipeline::{InProcessAggregator, metering_start};
use crate::setup::prepare_ledger;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use gpubill_domain::{BillingPeriod, Tz};
use gpubill_platform::config::Config;
use gpubill_platform::kafka::ensure_topics;
use gpubill_platform::{Shutdown, ShutdownTrigger};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Simulated hours of usage to meter.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Simulated seconds per wall second; 0 = as fast as the broker and the ledger go.
    #[arg(long, default_value_t = 0.0)]
    speed: f64,
    /// First instant metered (RFC 3339) [default: the earliest allocation start in cluster.toml].
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Address for the API [default: http.bind].
    #[arg(long)]
    bind: Option<String>,
    /// Stop after printing instead of serving the API until Ctrl-C.
    #[arg(long)]
    exit: bool,
    /// Give up if the ledger has not caught up with the broker after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
}

pub async fn run(
    config: &Config,
    args: DemoArgs,
    trigger: ShutdownTrigger,
    stop: Shutdown,
) -> Result<()> {
    if !(args.hours.is_finite() && args.hours > 0.0) {
        bail!("--hours must be a positive number, got {}", args.hours);
    }
    if !(args.speed.is_finite() && args.speed >= 0.0) {
        bail!("--speed must be a number >= 0, got {}", args.speed);
    }
    let from = match args.from {
        Some(from) => from,
        None => metering_start(&config.cluster)?,
    };
    let until = from + Duration::milliseconds((args.hours * 3_600_000.0) as i64);

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
    let (server, address) = gpubill_api::bind(
        gpubill_api::AppState::new(config, pool.clone(), scheduler),
        &bind,
        config.settings.http.workers,
        config.settings.http.shutdown_deadline_seconds,
    )
    .with_context(|| format!("cannot listen on {bind} (http.bind, or --bind)"))?;
    let server_handle = server.handle();
    let api = tokio::spawn(server);

    println!(
        "gpubill demo: {} nodes, {} tenants, {} allocations",
        config.cluster.nodes.len(),
        config.cluster.tenants.len(),
        config.cluster.allocations.len()
    );
    println!(
        "metering {from} .. {until} ({} simulated hours, speed {})",
        args.hours,
        if args.speed == 0.0 {
            "max".to_owned()
        } else {
            args.speed.to_string()
        }
    );

    let started = Instant::now();
    let window = gpubill_agent::RunWindow {
        from,
        until: Some(until),
        speed: args.speed,
    };
    let report = gpubill_agent::run(
        kafka,
        &config.settings.agent,
        &config.cluster,
        None,
        window,
        stop.clone(),
    )
    .await?;
    let produced_in = started.elapsed();

    aggregator
        .wait_caught_up(
            config,
            &pool,
            &report.delivered,
            std::time::Duration::from_secs(args.timeout_seconds),
            &stop,
        )
        .await?;
    let end_to_end = started.elapsed();
    let counted = aggregator.stats.snapshot();

    for tenant in &config.cluster.tenants {
        for period in periods_between(from, until, tenant.time_zone) {
            let url = format!(
                "http://{address}/v1/tenants/{}/invoices/draft?period={period}",
                tenant.id
            );
            let invoice = fetch_invoice(url).await?;
            println!("\n{}", invoice_table::render(&invoice, &tenant.name));
        }
    }

    println!(
        "events produced:        {:>10}  in {:.2?} ({:.0} events/s)",
        report.events,
        produced_in,
        report.events_per_second()
    );
    println!("events billed:          {:>10}", counted.applied);
    println!("duplicates dropped:     {:>10}", counted.duplicates);
    println!("dead-lettered:          {:>10}", counted.dead_lettered);
    println!("ledger batches:         {:>10}", counted.batches);
    println!(
        "end to end:             {:>10.2?}  ({:.0} events/s from first produce to last ledger commit)",
        end_to_end,
        report.events as f64 / end_to_end.as_secs_f64().max(1e-9)
    );
    println!(
        "API: http://{address}  (try /v1/tenants/{}/usage?from={}&to={})",
        config.cluster.tenants.first().map_or("", |t| t.id.as_str()),
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        until.format("%Y-%m-%dT%H:%M:%SZ")
    );

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

async fn fetch_invoice(url: String) -> Result<Invoice> {
    tokio::task::spawn_blocking(move || -> Result<Invoice> {
        let mut response = ureq::get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        response
            .body_mut()
            .read_json()
            .with_context(|| format!("GET {url}: unexpected body"))
    })
    .await
    .context("HTTP client task failed")?
}
