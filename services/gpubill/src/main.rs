//! `gpubill`: the single front door. Each subcommand loads and validates the configuration, then
//! runs one service (or, for `demo`, all of them on the demo cluster).

mod bench;
mod close;
mod close_bench;
mod demo;
mod export;
mod export_bench;
mod invoice_render;
mod invoice_table;
mod keys;
mod pipeline;
mod placement_bench;
mod portal_bench;
mod progress;
mod reconcile_table;
mod setup;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::{Parser, Subcommand};
use gpubill_platform::config::{Config, LogFormat, config_dir};
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
    /// Apply pending database migrations and load the tenants of cluster.toml and the price book
    /// of pricebook.toml into the ledger (every other subcommand that uses the ledger does too).
    Migrate,
    /// Meter allocations and produce one usage event per GPU (or MIG instance) per interval to
    /// Kafka: the static allocations of cluster.toml, or with --follow-scheduler those the
    /// scheduler placed on --node.
    Agent(AgentArgs),
    /// Consume usage events, dead-letter invalid ones, drop duplicates, rate the rest and write the
    /// Postgres ledger together with the consumed offsets.
    Aggregator,
    /// Serve the HTTP API: usage, invoices and credit notes, contracts, prepaid credit, missing usage.
    Api,
    /// Finalize every tenant's invoice for a month (after its end plus billing.finalize_grace_hours),
    /// with a progress bar and a summary. Running it again changes nothing.
    Close(close::CloseArgs),
    /// Move the aggregator's consumed offsets back to the start of the usage topic, so its next
    /// run re-reads the whole log. Events already billed are dropped as duplicates: the ledger and
    /// invoices do not change. Refused while an aggregator instance is running.
    Replay,
    /// List usage streams with seqs never received (missing usage), open longer than a grace time.
    MissingUsage(MissingUsageArgs),
    /// Compare allocations with metered usage: GPUs allocated but silent (allocated longer than
    /// metered, beyond scheduler.reconciliation_tolerance_seconds) and usage metered but not
    /// allocated. Exits with status 3 when anything is flagged.
    Reconcile(ReconcileArgs),
    /// Run agent, aggregator and API on the demo cluster for an accelerated period, then print
    /// every tenant's draft invoice and the API address.
    Demo(demo::DemoArgs),
    /// Print the API's OpenAPI 3.1 document (what GET /openapi.json serves; docs/openapi.json).
    Openapi,
    /// Manage API keys: create (printed once; the way to the first admin key), list, revoke.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Finance exports as files: `fec --year`, `journal --from --to`, `trial-balance --at`,
    /// `focus --period` (docs/billing.md).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Issued invoices and credit notes as files: `render NUMBER --format pdf|cii|ubl`.
    #[command(subcommand)]
    Invoice(invoice_render::InvoiceCommand),
    /// Measure throughput: fill fresh topics with --events usage events, then time (a) a bare
    /// Kafka consumer reading them and (b) the aggregator writing them to an empty ledger, and
    /// print both rates and the ratio b/a. Uses its own database and topics, dropped at the end.
    Bench(bench::BenchArgs),
    /// Measure the month-end close: on a database of its own, book a month of usage for
    /// --tenants tenants, then time `close` for that month and a second close that changes nothing.
    BenchClose(close_bench::BenchCloseArgs),
    /// Measure the finance exports: on a database of its own, book --journal-lines journal lines
    /// and a month of hourly usage of --gpus GPUs, then time the FEC and the FOCUS export.
    BenchExport(export_bench::BenchExportArgs),
    /// Measure the portal's overview: on a database of its own, meter --gpus GPUs of a tenant
    /// over the current month, then time the overview (server time, and over HTTP).
    BenchPortal(portal_bench::BenchPortalArgs),
    /// Measure the scheduler's pure placement core: decisions per second and their latency on a
    /// synthetic inventory (default 10,000 nodes), at a steady occupancy.
    BenchPlacement(placement_bench::BenchPlacementArgs),
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
    /// Meter the allocations the scheduler placed on --node, asked from agent.scheduler_url every
    /// agent.scheduler_poll_ms, on the wall clock (--speed does not apply), instead of the static
    /// allocations of cluster.toml. --hours is then wall-clock hours.
    #[arg(long, requires = "node")]
    follow_scheduler: bool,
}

#[derive(Debug, clap::Args)]
struct ReconcileArgs {
    /// Start of the window reconciled (RFC 3339) [default: 24 hours ago]; it ends now.
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Print the report as JSON (as GET /v1/reconciliation returns it) instead of tables.
    #[arg(long)]
    json: bool,
}

/// Exit status of `gpubill reconcile` when it flagged something.
const EXIT_DISCREPANCIES: u8 = 3;

#[derive(Debug, clap::Args)]
struct MissingUsageArgs {
    /// Only this tenant's streams.
    #[arg(long)]
    tenant: Option<String>,
    /// Only gaps open at least this long [default: billing.missing_usage_after_seconds].
    #[arg(long)]
    older_than_seconds: Option<i64>,
}

/// Prints a failure as one line of causes (`context: cause: cause`) and exits 1: configuration
/// and connection errors are for operators, not backtraces.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gpubill: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = Config::load(&config_dir(cli.config_dir)).context("invalid configuration")?;
    init_tracing(
        matches!(
            cli.command,
            Command::Demo(_) | Command::Bench(_) | Command::BenchClose(_)
        ),
        config.settings.log.format,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

async fn dispatch(command: Command, config: Config) -> Result<ExitCode> {
    let (trigger, stop) = shutdown::channel();
    trigger.on_signals();
    match command {
        Command::Migrate => {
            let ledger = setup::prepare_ledger(&config).await?;
            let applied = &ledger.migrations_applied;
            println!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none pending".to_owned()
                } else {
                    applied.join(", ")
                }
            );
            println!("tenants loaded: {}", config.cluster.tenants.len());
            println!(
                "price book loaded: {} prices new, {} already loaded",
                ledger.price_book.inserted, ledger.price_book.unchanged
            );
        }
        Command::Agent(args) => {
            gpubill_api::metrics_listener::start(&config.settings.metrics, stop.clone())?;
            let window = agent_window(&args, config.settings.agent.speed)?;
            let source = match (&args.node, args.follow_scheduler) {
                (Some(node), true) => {
                    anyhow::ensure!(
                        config.cluster.nodes.iter().any(|n| &n.id == node),
                        "--node {node} is not a node of cluster.toml"
                    );
                    gpubill_agent::AllocationSource::Scheduler { node }
                }
                (node, _) => gpubill_agent::AllocationSource::Static {
                    cluster: &config.cluster,
                    node: node.as_deref(),
                },
            };
            let service = gpubill_agent::run_source(
                &config.settings.kafka,
                &config.settings.agent,
                source,
                window,
                stop.clone(),
            );
            // The agent gives in-flight events SHUTDOWN_GRACE itself; whatever is unacknowledged
            // stays in its spool, so exiting past the deadline loses nothing.
            let deadline = gpubill_agent::SHUTDOWN_GRACE.as_secs() + 5;
            let report = within_deadline(stop, deadline, "agent", service).await?;
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
            let pool = setup::prepare_ledger(&config).await?.pool;
            gpubill_api::metrics_listener::start(&config.settings.metrics, stop.clone())?;
            let stats = Arc::new(gpubill_aggregator::AggregatorStats::default());
            let deadline = config.settings.aggregator.shutdown_deadline_seconds;
            let service = gpubill_aggregator::run(&config, pool, stats, stop.clone());
            within_deadline(stop, deadline, "aggregator", service).await?;
        }
        Command::Api => {
            let pool = setup::prepare_ledger(&config).await?.pool;
            gpubill_api::metrics_listener::start(&config.settings.metrics, stop.clone())?;
            // actix drains requests for the deadline itself; ours adds a margin for the rest.
            let deadline = config.settings.http.shutdown_deadline_seconds + 5;
            let service = gpubill_api::serve(&config, pool, stop.clone());
            within_deadline(stop, deadline, "api", service).await?;
        }
        Command::Replay => {
            let pool = setup::prepare_ledger(&config).await?.pool;
            let consumer = config.settings.aggregator.consumer_name.clone();
            let topic = config.settings.kafka.usage_topic.clone();
            let reset = {
                let (consumer, topic) = (consumer.clone(), topic.clone());
                gpubill_platform::db::with_conn(&pool, move |conn| {
                    gpubill_aggregator::store::reset_offsets(conn, &consumer, &topic)
                        .map_err(|error| anyhow::anyhow!(error))
                })
                .await?
            };
            println!(
                "offsets of {consumer} on {topic} reset to 0 on {reset} partitions; the next aggregator run re-reads the log"
            );
        }
        Command::MissingUsage(args) => {
            let pool = setup::prepare_ledger(&config).await?.pool;
            let older_than = args
                .older_than_seconds
                .unwrap_or(config.settings.billing.missing_usage_after_seconds);
            anyhow::ensure!(older_than >= 0, "--older-than-seconds must be at least 0");
            let gaps = gpubill_platform::db::with_conn(&pool, move |conn| {
                // Every gap: the command line prints them all.
                gpubill_api::routes::missing_usage::load(
                    conn,
                    args.tenant.as_deref(),
                    older_than,
                    None,
                    i64::MAX,
                )
                .map_err(|error| anyhow::anyhow!(gpubill_platform::DbError::from(error)))
            })
            .await?;
            println!(
                "missing usage open at least {older_than} s: {} gaps",
                gaps.len()
            );
            for gap in gaps {
                println!(
                    "{} {}/{} seq {}..={} ({} events) from {} until {} open since {}",
                    gap.tenant_id,
                    gap.allocation_id,
                    gap.gpu_uuid,
                    gap.first_seq,
                    gap.last_seq,
                    gap.missing_events,
                    gap.missing_from
                        .map_or_else(|| "the stream's start".to_owned(), |at| at.to_rfc3339()),
                    gap.missing_until.to_rfc3339(),
                    gap.open_since.to_rfc3339()
                );
            }
        }
        Command::Reconcile(args) => {
            let pool = setup::prepare_ledger(&config).await?.pool;
            let now = Utc::now();
            let since = args.since.unwrap_or(now - Duration::hours(24));
            let reconciler = gpubill_scheduler::reconcile::Reconciler::new(&config);
            let report = gpubill_platform::db::with_conn(&pool, move |conn| {
                reconciler
                    .run(conn, since, now)
                    .map_err(|error| anyhow::anyhow!(error))
            })
            .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", reconcile_table::render(&report));
            }
            if !report.is_clean() {
                return Ok(ExitCode::from(EXIT_DISCREPANCIES));
            }
        }
        Command::Close(args) => close::run(&config, args).await?,
        Command::Keys(command) => keys::run(&config, command).await?,
        Command::Invoice(command) => invoice_render::run(&config, command).await?,
        Command::Export(command) => export::run(&config, command, stop).await?,
        Command::Openapi => print!("{}", gpubill_api::routes::openapi::document_json()?),
        Command::Demo(args) => demo::run(&config, args, trigger, stop).await?,
        Command::Bench(args) => bench::run(&config, args, stop).await?,
        Command::BenchClose(args) => close_bench::run(&config, args).await?,
        Command::BenchExport(args) => export_bench::run(&config, args).await?,
        Command::BenchPlacement(args) => placement_bench::run(args)?,
        Command::BenchPortal(args) => portal_bench::run(&config, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a service to its end, but once shutdown is triggered gives it at most `deadline_seconds`
/// to finish its in-flight work. Past that the process exits at once: whatever was not committed
/// is abandoned, and Postgres rolls back an open transaction when the connection drops, so the
/// next start resumes from the last commit.
async fn within_deadline<T>(
    mut stop: shutdown::Shutdown,
    deadline_seconds: u64,
    service_name: &str,
    service: impl std::future::Future<Output = T>,
) -> T {
    let watchdog = async {
        stop.triggered().await;
        tokio::time::sleep(std::time::Duration::from_secs(deadline_seconds)).await;
    };
    tokio::select! {
        result = service => result,
        _ = watchdog => {
            tracing::error!(service = service_name, deadline_seconds, "did not stop within the shutdown deadline; abandoning in-flight work");
            std::process::exit(EXIT_SHUTDOWN_DEADLINE);
        }
    }
}

/// Exit status when a service outlived its shutdown deadline (EX_TEMPFAIL: rerun is safe).
const EXIT_SHUTDOWN_DEADLINE: i32 = 75;

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
    if args.follow_scheduler {
        anyhow::ensure!(
            args.speed.is_none(),
            "--speed does not apply with --follow-scheduler: the scheduler's allocations run on the wall clock"
        );
    }
    let speed = args.speed.unwrap_or(default_speed);
    anyhow::ensure!(
        speed.is_finite() && speed >= 0.0,
        "--speed must be a number >= 0, got {speed}"
    );
    Ok(gpubill_agent::RunWindow { from, until, speed })
}

/// Logs to stderr, as text or as one JSON object per line with the fields of the enclosing spans
/// (`log.format`); `GPUBILL_LOG` (or `RUST_LOG`) sets the filter. The demo and the bench keep
/// their output to warnings so their tables stay readable.
fn init_tracing(quiet: bool, format: LogFormat) {
    let default = if quiet { "warn" } else { "info" };
    let filter = std::env::var("GPUBILL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_owned());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
