//! `gpubill`: the single front door. Each subcommand loads and validates the configuration, then
//! runs one service (or, for `demo`, all of them on the demo cluster).

mod demo;
mod invoice_table;
mod setup;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::{Parser, Subcommand};
use gpubill_platform::config::{Config, config_dir};
use gpubill_platform::shutdown;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "gpubill",
    version,
    about = "Usage metering and billing for a GPU cloud"
)]
struct Cli {
    /// Directory holding default.toml, pricebook.toml and cluster.toml [default: $GPUBILL_CONFIG_DIR or ./config]
    #[arg(long, global = true)]
    config_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations and load the tenants of cluster.toml into the ledger.
    Migrate,
    /// Meter the allocations of cluster.toml and produce one usage event per GPU per interval to Kafka.
    Agent(AgentArgs),
    /// Consume usage events, dead-letter invalid ones, drop duplicates, rate the rest and write the
    /// Postgres ledger together with the consumed offsets.
    Aggregator,
    /// Serve the HTTP API: health, usage and draft invoices.
    Api,
    /// Run agent, aggregator and API on the demo cluster for an accelerated period, then print
    /// every tenant's draft invoice and the API address.
    Demo(demo::DemoArgs),
}

#[derive(Debug, clap::Args)]
struct AgentArgs {
    /// Meter only the allocations of this node (a real agent runs on one node); default: all nodes.
    #[arg(long)]
    node: Option<String>,
    /// First instant to meter (RFC 3339) [default: now, to the second].
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Simulated hours to meter, then stop [default: run until stopped].
    #[arg(long)]
    hours: Option<f64>,
    /// Simulated seconds per wall second; 0 = as fast as the broker takes them [default: agent.speed].
    #[arg(long)]
    speed: Option<f64>,
}

/// Prints a failure as one line of causes (`context: cause: cause`) and exits 1: configuration
/// and connection errors are for operators, not backtraces.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gpubill: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    init_tracing(matches!(cli.command, Command::Demo(_)));
    let config = Config::load(&config_dir(cli.config_dir)).context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

async fn dispatch(command: Command, config: Config) -> Result<()> {
    let (trigger, stop) = shutdown::channel();
    trigger.on_signals();
    match command {
        Command::Migrate => {
            let applied = setup::prepare_ledger(&config).await?.1;
            println!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none pending".to_owned()
                } else {
                    applied.join(", ")
                }
            );
            println!("tenants loaded: {}", config.cluster.tenants.len());
        }
        Command::Agent(args) => {
            let window = agent_window(&args, config.settings.agent.speed)?;
            let report = gpubill_agent::run(
                &config.settings.kafka,
                &config.settings.agent,
                &config.cluster,
                args.node.as_deref(),
                window,
                stop,
            )
            .await?;
            println!(
                "{} events produced in {:.2?} ({:.0} events/s)",
                report.events,
                report.elapsed,
                report.events_per_second()
            );
            let spool = &report.spool;
            println!(
                "spool: {} recovered, {} re-sent after {} delivery failures, {} full-spool alarms, {} events ({} bytes) left for the next start",
                spool.recovered,
                spool.resent,
                spool.delivery_failures,
                spool.full_alarms,
                spool.left_events,
                spool.left_bytes
            );
        }
        Command::Aggregator => {
            let (pool, _) = setup::prepare_ledger(&config).await?;
            let stats = Arc::new(gpubill_aggregator::AggregatorStats::default());
            gpubill_aggregator::run(&config, pool, stats, stop).await?;
        }
        Command::Api => {
            let (pool, _) = setup::prepare_ledger(&config).await?;
            gpubill_api::serve(&config, pool, stop).await?;
        }
        Command::Demo(args) => demo::run(&config, args, trigger, stop).await?,
    }
    Ok(())
}

fn agent_window(args: &AgentArgs, default_speed: f64) -> Result<gpubill_agent::RunWindow> {
    let from = match args.from {
        Some(from) => from,
        None => Utc::now()
            .duration_trunc(Duration::seconds(1))
            .context("cannot read the clock")?,
    };
    let until = match args.hours {
        Some(hours) if hours.is_finite() && hours > 0.0 => {
            Some(from + Duration::milliseconds((hours * 3_600_000.0) as i64))
        }
        Some(hours) => anyhow::bail!("--hours must be a positive number, got {hours}"),
        None => None,
    };
    let speed = args.speed.unwrap_or(default_speed);
    anyhow::ensure!(
        speed.is_finite() && speed >= 0.0,
        "--speed must be a number >= 0, got {speed}"
    );
    Ok(gpubill_agent::RunWindow { from, until, speed })
}

/// Logs to stderr; `GPUBILL_LOG` (or `RUST_LOG`) sets the filter. The demo keeps its output to
/// warnings so its tables stay readable.
fn init_tracing(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = std::env::var("GPUBILL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}
