//! `gpubill bench`: what the exactly-once guarantees cost in throughput. Fills a fresh usage topic
//! with at least N events from the agent simulation, then measures in the same run
//!
//! - (a) the broker's raw consume rate: a bare rdkafka consumer that only reads the topic from
//!   the beginning, counting records and bytes, until it has read every event;
//! - (b) the aggregator's end-to-end rate: `gpubill_aggregator::run` in this process, from an
//!   empty ledger until the ledger has committed every event with its offsets,
//!
//! and reports both, the ratio b/a and the produce rate, in a table and in one JSON line.
//!
//! It works on a database and topics of its own with unique names (`gpubill_bench_<id>`,
//! `gpubill.bench.<id>.*`), dropped at the end unless `--keep`: the demo's data is never touched.

use crate::pipeline::{InProcessAggregator, metering_start};
use crate::setup::{prepare_ledger, redact};
use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Duration as SimDuration, SecondsFormat, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use gpubill_agent::{AgentReport, RunWindow, Simulation};
use gpubill_platform::Shutdown;
use gpubill_platform::config::{Config, KafkaSettings};
use gpubill_platform::kafka::{client_config, consumer_config, ensure_topics, partition_count};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// The goal: the aggregator keeps at least this share of the broker's raw consume rate.
const TARGET_RATIO: f64 = 0.8;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Usage events to produce and measure; the last simulated interval is completed, so a few
    /// more may be produced.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Keep the bench database and topics afterwards (their names are printed).
    #[arg(long)]
    keep: bool,
    /// Give up on a phase (produce, raw read, aggregate) after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_seconds: u64,
    /// Free text copied into the JSON summary, e.g. the broker's storage engine.
    #[arg(long, default_value = "")]
    label: String,
}

/// Names of what one bench run creates.
pub(crate) struct Scratch {
    pub(crate) admin_url: String,
    pub(crate) database: String,
    pub(crate) config: Config,
}

/// The simulated window that yields the requested number of events.
struct Plan {
    window: RunWindow,
    events: u64,
    gpus: usize,
}

/// What the bare consumer read.
struct RawRead {
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

/// The figures of one run.
struct Figures {
    produced: AgentReport,
    raw: RawRead,
    aggregated_in: Duration,
    stats: gpubill_aggregator::StatsSnapshot,
}

pub async fn run(config: &Config, args: BenchArgs, stop: Shutdown) -> Result<()> {
    ensure!(args.events > 0, "--events must be at least 1");
    let plan = plan(config, args.events)?;
    let scratch = Scratch::new(config)?;
    let kafka = &scratch.config.settings.kafka;
    println!(
        "gpubill bench: {} events = {} GPUs metered {} .. {} ({:.1} simulated hours)",
        plan.events,
        plan.gpus,
        rfc3339(plan.window.from),
        plan.window.until.map_or_else(String::new, rfc3339),
        plan.window
            .until
            .map_or(0.0, |until| (until - plan.window.from).num_seconds() as f64
                / 3600.0),
    );
    println!(
        "broker {}, topic {}; database {}",
        kafka.brokers,
        kafka.usage_topic,
        redact(&scratch.config.settings.database.url)
    );

    create_database(&scratch.admin_url, &scratch.database).await?;
    let outcome = measure(&scratch.config, &args, &plan, &stop).await;
    if args.keep {
        println!(
            "kept: database {}, topics {} and {}",
            scratch.database, kafka.usage_topic, kafka.dead_letter_topic
        );
    } else {
        scratch.remove().await;
    }
    let figures = outcome?;
    print_figures(&figures, &plan, &scratch.config, &args.label);
    Ok(())
}

/// Meters the configured cluster from its first allocation start for as many whole intervals as
/// it takes to emit `events`. The window must end in the past: the aggregator refuses usage
/// from the future.
fn plan(config: &Config, events: u64) -> Result<Plan> {
    let from = metering_start(&config.cluster)?;
    let interval_seconds = config.settings.agent.interval_seconds;
    let simulation = Simulation::new(&config.cluster, interval_seconds, None, from);
    let gpus = simulation.gpu_count();
    ensure!(gpus > 0, "cluster.toml allocates no GPU to meter");
    let interval = SimDuration::seconds(i64::from(interval_seconds));
    let intervals = i32::try_from(events.div_ceil(gpus as u64)).unwrap_or(i32::MAX);
    let mut until = from + interval * intervals;
    while simulation.count_until(until) < events {
        until += interval;
    }
    if until > Utc::now() {
        bail!(
            "{events} events of the {gpus} GPUs of cluster.toml need metering until {}, which is \
             in the future; ask for fewer --events",
            rfc3339(until)
        );
    }
    Ok(Plan {
        window: RunWindow {
            from,
            until: Some(until),
            speed: 0.0,
        },
        events: simulation.count_until(until),
        gpus,
    })
}

impl Scratch {
    /// The configuration of one bench run: `config` pointed at a new database on the same server
    /// and at new topics on the same brokers.
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        let database = format!("gpubill_bench_{id}");
        let mut bench = config.clone();
        bench.settings.database.url = with_database(&config.settings.database.url, &database)?;
        bench.settings.kafka.usage_topic = format!("gpubill.bench.{id}.usage");
        bench.settings.kafka.dead_letter_topic = format!("gpubill.bench.{id}.dlq");
        Ok(Self {
            admin_url: config.settings.database.url.clone(),
            database,
            config: bench,
        })
    }

    /// Drops the topics and the database; a failure is reported, not fatal.
    pub(crate) async fn remove(&self) {
        let kafka = &self.config.settings.kafka;
        if let Err(error) =
            delete_topics(kafka, &[&kafka.usage_topic, &kafka.dead_letter_topic]).await
        {
            tracing::warn!(%error, topic = %kafka.usage_topic, "cannot delete the bench topics");
        }
        if let Err(error) = drop_database(&self.admin_url, &self.database).await {
            tracing::warn!(error = %format!("{error:#}"), database = %self.database, "cannot drop the bench database");
        }
    }
}

async fn measure(
    config: &Config,
    args: &BenchArgs,
    plan: &Plan,
    stop: &Shutdown,
) -> Result<Figures> {
    let kafka = &config.settings.kafka;
    let timeout = Duration::from_secs(args.timeout_seconds);
    ensure_topics(kafka, &[&kafka.usage_topic, &kafka.dead_letter_topic])
        .await
        .with_context(|| format!("cannot create the bench topics on {}", kafka.brokers))?;
    let pool = prepare_ledger(config).await?.pool;

    println!(
        "producing {} events (agent simulation, speed max) ...",
        plan.events
    );
    let produced = tokio::time::timeout(
        timeout,
        gpubill_agent::run(
            kafka,
            &config.settings.agent,
            &config.cluster,
            None,
            plan.window,
            stop.clone(),
        ),
    )
    .await
    .context("producing took longer than --timeout-seconds")??;
    ensure!(
        produced.events == plan.events,
        "the agent produced {} events instead of {} (interrupted?)",
        produced.events,
        plan.events
    );

    println!("(a) reading them back with a bare consumer ...");
    let raw = {
        let (kafka, stop) = (kafka.clone(), stop.clone());
        let expected = produced.events;
        tokio::task::spawn_blocking(move || read_raw(&kafka, expected, timeout, &stop))
            .await
            .context("the raw consumer task failed")??
    };

    println!("(b) aggregating them into an empty ledger ...");
    let started = Instant::now();
    let mut aggregator = InProcessAggregator::start(config, pool.clone(), stop);
    let caught_up = aggregator
        .wait_caught_up(config, &pool, &produced.delivered, timeout, stop)
        .await;
    let aggregated_in = started.elapsed();
    // Read after the stop, which waits for the batch in flight.
    let stats = aggregator.stats.clone();
    let stopped = aggregator.stop().await;
    let stats = stats.snapshot();
    caught_up?;
    stopped?;
    Ok(Figures {
        produced,
        raw,
        aggregated_in,
        stats,
    })
}

/// Reads `expected` records of the usage topic from the beginning of every partition, doing
/// nothing with them but counting: the rate the broker and the client library deliver at. Uses
/// the aggregator's consumer settings, so both read the same way.
fn read_raw(
    kafka: &KafkaSettings,
    expected: u64,
    timeout: Duration,
    stop: &Shutdown,
) -> Result<RawRead> {
    let started = Instant::now();
    let topic = kafka.usage_topic.as_str();
    let consumer: BaseConsumer = consumer_config(kafka, &format!("{topic}.raw-reader")).create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partition_count(&consumer, topic)? {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let (mut records, mut bytes) = (0_u64, 0_u64);
    while records < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += (message.payload_len() + message.key().map_or(0, <[u8]>::len)) as u64;
            }
            Some(Err(error)) => tracing::warn!(%error, "consumer error; librdkafka retries"),
            None => {}
        }
        if started.elapsed() > timeout || stop.is_triggered() {
            bail!(
                "the bare consumer read only {records} of {expected} records in {:.1?}",
                started.elapsed()
            );
        }
    }
    Ok(RawRead {
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}

fn print_figures(figures: &Figures, plan: &Plan, config: &Config, label: &str) {
    let events = figures.produced.events;
    let produce_rate = figures.produced.events_per_second();
    let raw_rate = rate(figures.raw.records, figures.raw.elapsed);
    let aggregator_rate = rate(events, figures.aggregated_in);
    let ratio = aggregator_rate / raw_rate.max(1e-9);
    let stats = &figures.stats;
    let mib = figures.raw.bytes as f64 / (1024.0 * 1024.0);
    println!();
    println!("events:                     {events:>10}");
    println!(
        "produce (agent, acks=all):  {:>10.2?}  {produce_rate:>9.0} events/s",
        figures.produced.elapsed
    );
    println!(
        "(a) raw consume:            {:>10.2?}  {raw_rate:>9.0} events/s  ({mib:.1} MiB, {:.1} MiB/s)",
        figures.raw.elapsed,
        mib / figures.raw.elapsed.as_secs_f64().max(1e-9)
    );
    println!(
        "(b) aggregator to ledger:   {:>10.2?}  {aggregator_rate:>9.0} events/s  ({} batches, {:.0} events/batch)",
        figures.aggregated_in,
        stats.batches,
        stats.records as f64 / (stats.batches.max(1) as f64)
    );
    println!(
        "ratio b/a:                  {ratio:>10.3}  (target >= {TARGET_RATIO}: {})",
        if ratio >= TARGET_RATIO {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "ledger:                     {:>10} billed, {} duplicates, {} dead-lettered",
        stats.applied, stats.duplicates, stats.dead_lettered
    );
    if stats.applied != events {
        println!(
            "warning: {events} events produced but {} billed",
            stats.applied
        );
    }
    let summary = serde_json::json!({
        "bench": "gpubill",
        "label": label,
        "brokers": config.settings.kafka.brokers,
        "partitions": config.settings.kafka.partitions,
        "batch_max_events": config.settings.aggregator.batch_max_events,
        "events": events,
        "gpus": plan.gpus,
        "produce_seconds": round3(figures.produced.elapsed.as_secs_f64()),
        "produce_events_per_s": produce_rate.round(),
        "raw_consume_seconds": round3(figures.raw.elapsed.as_secs_f64()),
        "raw_consume_events_per_s": raw_rate.round(),
        "raw_consume_bytes": figures.raw.bytes,
        "aggregator_seconds": round3(figures.aggregated_in.as_secs_f64()),
        "aggregator_events_per_s": aggregator_rate.round(),
        "ratio": round3(ratio),
        "target_ratio": TARGET_RATIO,
        "batches": stats.batches,
        "billed": stats.applied,
        "duplicates": stats.duplicates,
        "dead_lettered": stats.dead_lettered,
    });
    println!("{summary}");
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base
        .find("://")
        .map(|scheme| scheme + 3)
        .with_context(|| format!("database.url {} is not a URL", redact(url)))?;
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    })
}

/// `CREATE DATABASE` through the configured database's server; the role needs CREATEDB.
pub(crate) async fn create_database(admin_url: &str, database: &str) -> Result<()> {
    let (admin_url, database) = (admin_url.to_owned(), database.to_owned());
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut admin = PgConnection::establish(&admin_url)
            .with_context(|| format!("cannot connect to {}", redact(&admin_url)))?;
        diesel::sql_query(format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .with_context(|| {
                format!("cannot create database {database} (the role needs CREATEDB)")
            })?;
        Ok(())
    })
    .await
    .context("database task failed")?
}

/// Runs `measure` with the configuration of a new scratch database (`gpubill_bench_<id>`, its
/// name printed), then drops the database unless `keep`; a failed drop is reported, not fatal.
pub(crate) async fn on_scratch_database<F, Fut>(
    config: &Config,
    keep: bool,
    measure: F,
) -> Result<()>
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let scratch = Scratch::new(config)?;
    println!("database {}", scratch.database);
    create_database(&scratch.admin_url, &scratch.database).await?;
    let outcome = measure(scratch.config.clone()).await;
    if keep {
        println!("kept: database {}", scratch.database);
    } else if let Err(error) = drop_database(&scratch.admin_url, &scratch.database).await {
        tracing::warn!(error = %format!("{error:#}"), database = %scratch.database, "cannot drop the bench database");
    }
    outcome
}

pub(crate) async fn drop_database(admin_url: &str, database: &str) -> Result<()> {
    let (admin_url, database) = (admin_url.to_owned(), database.to_owned());
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut admin = PgConnection::establish(&admin_url)
            .with_context(|| format!("cannot connect to {}", redact(&admin_url)))?;
        // After a million rows autovacuum is often at work on the database, and only a superuser
        // may terminate it; it gives way within seconds, so try again for a while.
        let mut attempts = 0;
        loop {
            let dropped = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            ))
            .execute(&mut admin);
            match dropped {
                Ok(_) => return Ok(()),
                Err(_) if attempts < 30 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(error) => return Err(error.into()),
            }
        }
    })
    .await
    .context("database task failed")?
}

async fn delete_topics(kafka: &KafkaSettings, topics: &[&str]) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(kafka, "gpubill-bench-admin").create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.delete_topics(topics, &options).await? {
        match result {
            // Already gone is what was asked for (Tansu 0.6 says so for the second of two).
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => bail!("cannot delete topic {topic}: {code}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/gpubill", "b").unwrap(),
            "postgres://u:p@h:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h/gpubill?sslmode=require", "b").unwrap(),
            "postgres://u:p@h/b?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h", "b").unwrap(),
            "postgres://h/b"
        );
        assert!(with_database("gpubill", "b").is_err());
    }
}
