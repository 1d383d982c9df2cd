//! The aggregator loop: hold leases on a fair share of the partitions and consume them from the
//! offsets stored in Postgres, then repeat — collect a batch, classify it, dead-letter the
//! rejects, apply the rest with the offsets in one transaction fenced by the leases. The apply
//! runs in the background while the next batch is collected and classified, and is awaited
//! before that batch reads the ledger, so one batch at most is in flight. A failed step is
//! retried with backoff on the same batch; nothing advances until it succeeds. On shutdown the
//! batch in hand is finished (or, while retrying, abandoned uncommitted) and the loop returns.

use crate::allocation::AllocationCheck;
use crate::batch::{Batch, Record, classify, resolve_against_ledger};
use crate::dead_letter::DeadLetterProducer;
use crate::error::AggregatorError;
use crate::lease::{Member, Owned, heartbeat, leave};
use crate::metrics;
use crate::store::{LookupKeys, apply_batch, ledger_view, load_offsets, load_tenants};
use crate::validate::Validator;
use chrono::Utc;
use gpubill_platform::config::{AggregatorSettings, Config};
use gpubill_platform::db::{PgPool, with_conn};
use gpubill_platform::kafka::{
    METADATA_TIMEOUT, RESUME_REWIND, consumer_config, ensure_topics, partition_count,
};
use gpubill_platform::{Shutdown, failpoint};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters of an aggregator, readable while it runs.
#[derive(Debug, Default)]
pub struct AggregatorStats {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    /// Events written to the ledger and billed.
    pub applied: AtomicU64,
    /// Valid events dropped because the ledger or the batch already had them, identical.
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Times this instance's set of owned partitions changed.
    pub rebalances: AtomicU64,
    /// Batches abandoned, unwritten, because a partition was taken over or the ledger changed
    /// while they were in hand.
    pub fenced: AtomicU64,
}

/// A point-in-time copy of [`AggregatorStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub batches: u64,
    pub records: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub rebalances: u64,
    pub fenced: u64,
}

impl AggregatorStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            rebalances: self.rebalances.load(Ordering::Relaxed),
            fenced: self.fenced.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64, amount: usize) {
        counter.fetch_add(amount as u64, Ordering::Relaxed);
    }
}

/// Runs until `shutdown` is triggered, counting into `stats`.
pub async fn run(
    config: &Config,
    pool: PgPool,
    stats: Arc<AggregatorStats>,
    mut shutdown: Shutdown,
) -> Result<(), AggregatorError> {
    let kafka = &config.settings.kafka;
    let settings = &config.settings.aggregator;
    let topic = kafka.usage_topic.as_str();
    ensure_topics(kafka, &[&kafka.usage_topic, &kafka.dead_letter_topic]).await?;

    let consumer: Arc<StreamConsumer> =
        Arc::new(consumer_config(kafka, &format!("gpubill-{}", settings.consumer_name)).create()?);
    let member = Member {
        consumer: settings.consumer_name.clone(),
        topic: topic.to_owned(),
        instance_id: settings.effective_instance_id(),
        partitions: partition_count(consumer.as_ref(), topic)?,
        lease_seconds: settings.lease_seconds,
    };
    tracing::info!(topic, partitions = member.partitions, instance = %member.instance_id, "aggregator joining");

    gpubill_platform::metrics::registry();
    metrics::describe();
    metrics::spawn_lag(
        kafka,
        pool.clone(),
        settings.consumer_name.clone(),
        member.partitions,
        shutdown.clone(),
    )?;
    let dead_letters = Arc::new(DeadLetterProducer::new(kafka)?);
    let price_book = &config.price_book;
    let Some(tenants) = retry(settings, &mut shutdown, "load tenants", || {
        with_conn(&pool, load_tenants)
    })
    .await?
    else {
        return Ok(());
    };
    let mut validator = Validator::new(
        settings.max_interval_seconds,
        settings.max_future_seconds,
        tenants,
    );
    let allocations =
        AllocationCheck::new(config.cluster.static_grants(), settings.unknown_allocations);

    let heartbeat_every =
        Duration::from_millis(u64::try_from(member.lease_seconds).unwrap_or(1) * 1000 / 3);
    let mut owned = Owned::new();
    // Per owned partition, the next offset the ledger has; records below it are re-reads.
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut next_heartbeat = tokio::time::Instant::now();

    // The batch being written while the next one is collected and classified.
    let mut in_flight: Option<InFlight> = None;
    // The records of the next batch, being read while this one is classified and resolved.
    let mut prefetch: Option<tokio::task::JoinHandle<Vec<Record>>> = None;
    // Set when a batch was abandoned: it may have been refused because a tenant's time zone
    // changed since the tenants were read, so they are read again before the next batch.
    let mut tenants_stale = false;

    while !shutdown.is_triggered() {
        if tokio::time::Instant::now() >= next_heartbeat {
            // A heartbeat later than the lease lets the other instances count this one dead and
            // take its partitions: say so, it explains a takeover no instance died for.
            let late = tokio::time::Instant::now() - next_heartbeat;
            if late.as_secs_f64() > member.lease_seconds as f64 / 2.0 {
                tracing::warn!(
                    instance = %member.instance_id,
                    late_ms = late.as_millis() as u64,
                    lease_seconds = member.lease_seconds,
                    "heartbeat late: a step took longer than the lease allows"
                );
            }
            // Ownership may change below: settle the batch in hand first.
            let settled = settle(
                in_flight.take(),
                &mut committed,
                (&mut owned, &mut next_heartbeat),
                &stats,
            );
            match settled.await? {
                Settled::Committed => {}
                Settled::Stopped => break,
                Settled::Abandoned => {
                    tenants_stale = true;
                    continue;
                }
            }
            let Some(now_owned) = retry(settings, &mut shutdown, "renew partition leases", || {
                let (member, owned) = (member.clone(), owned.clone());
                with_conn(&pool, move |conn| heartbeat(conn, &member, &owned))
            })
            .await?
            else {
                break;
            };
            next_heartbeat = tokio::time::Instant::now() + heartbeat_every;
            if now_owned != owned {
                // Records read ahead under the old assignment are dropped: the new one seeks
                // every partition back to its committed offset. (Dropping them without a seek
                // would skip them, so this is the only place they are dropped.)
                if let Some(reading) = prefetch.take() {
                    let _ = reading.await;
                }
                let Some(offsets) = retry(settings, &mut shutdown, "load offsets", || {
                    let (consumer_name, topic) = (member.consumer.clone(), member.topic.clone());
                    with_conn(&pool, move |conn| {
                        load_offsets(conn, &consumer_name, &topic)
                    })
                })
                .await?
                else {
                    break;
                };
                let offsets: BTreeMap<i32, i64> = offsets
                    .into_iter()
                    .filter(|(partition, _)| now_owned.contains_key(partition))
                    .collect();
                // A broker that does not answer for a moment must not end the instance: the
                // check and the assignment are retried like any step (an offset beyond the log is
                // not retryable, and stops it).
                let assigned = retry(settings, &mut shutdown, "assign partitions", || {
                    std::future::ready(assign(&consumer, topic, &now_owned, &offsets))
                })
                .await?;
                if assigned.is_none() {
                    break;
                }
                tracing::info!(
                    instance = %member.instance_id,
                    owned = ?now_owned.keys().collect::<Vec<_>>(),
                    before = ?owned.keys().collect::<Vec<_>>(),
                    committed = ?offsets,
                    "partition ownership changed"
                );
                AggregatorStats::add(&stats.rebalances, 1);
                metrics::lease_changed();
                owned = now_owned;
                committed = offsets;
            }
        }
        if owned.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep_until(next_heartbeat) => {}
                _ = shutdown.triggered() => {}
            }
            continue;
        }

        let collect_next = || {
            let wait_until = next_heartbeat.min(
                tokio::time::Instant::now() + Duration::from_millis(settings.batch_max_wait_ms),
            );
            let (consumer, mut shutdown) = (consumer.clone(), shutdown.clone());
            let max_events = settings.batch_max_events;
            tokio::spawn(
                async move { collect(&consumer, max_events, wait_until, &mut shutdown).await },
            )
        };
        let reading = prefetch.take().unwrap_or_else(collect_next);
        let mut records = reading.await.map_err(|error| {
            AggregatorError::Invariant(format!("record reader failed: {error}"))
        })?;
        // Read the next batch while this one is classified, resolved and handed to the writer.
        prefetch = Some(collect_next());
        // Records of partitions given up may still be in the consumer's queue, and the rewind on
        // assignment re-reads up to RESUME_REWIND committed records per partition.
        records.retain(|record| {
            owned.contains_key(&record.partition)
                && committed
                    .get(&record.partition)
                    .is_none_or(|next| record.offset >= *next)
        });
        if records.is_empty() {
            // Idle: account for the batch in flight now rather than when the next one comes.
            let settled = settle(
                in_flight.take(),
                &mut committed,
                (&mut owned, &mut next_heartbeat),
                &stats,
            );
            match settled.await? {
                Settled::Stopped => break,
                Settled::Abandoned => tenants_stale = true,
                Settled::Committed => {}
            }
            continue;
        }
        if tenants_stale {
            let Some(tenants) = retry(settings, &mut shutdown, "load tenants", || {
                with_conn(&pool, load_tenants)
            })
            .await?
            else {
                break;
            };
            validator.set_tenants(tenants);
            tenants_stale = false;
        }
        let started = Instant::now();
        let mut batch = classify(&records, &validator, price_book, Utc::now());
        // The batch read must see the one before it committed.
        let settled = settle(
            in_flight.take(),
            &mut committed,
            (&mut owned, &mut next_heartbeat),
            &stats,
        );
        match settled.await? {
            Settled::Committed => {}
            Settled::Stopped => break,
            // The records in hand follow the abandoned batch: they are dropped too, and re-read.
            Settled::Abandoned => {
                tenants_stale = true;
                continue;
            }
        }
        // Tenants are re-read when an event names one we do not know yet, so a tenant created
        // after start-up is accepted without a restart.
        if batch
            .dead_letters
            .iter()
            .any(|letter| letter.rejection.reason == "unknown_tenant")
        {
            let Some(tenants) = retry(settings, &mut shutdown, "load tenants", || {
                with_conn(&pool, load_tenants)
            })
            .await?
            else {
                break;
            };
            validator.set_tenants(tenants);
            batch = classify(&records, &validator, price_book, Utc::now());
        }
        // Events their stream's watermark already holds are duplicates (dropped) or conflicts
        // (dead-lettered), decided before anything is produced or written.
        let keys = Arc::new(LookupKeys::of(&batch.accepted));
        let Some(ledger) = retry(settings, &mut shutdown, "read stream state", || {
            let keys = keys.clone();
            with_conn(&pool, move |conn| ledger_view(conn, &keys))
        })
        .await?
        else {
            break;
        };
        resolve_against_ledger(
            &mut batch,
            &records,
            ledger,
            &allocations,
            price_book,
            Utc::now(),
        )
        .map_err(|error| {
            AggregatorError::Invariant(format!("a run of valid events cannot be rated: {error}"))
        })?;
        let batch = Arc::new(batch);

        if !batch.dead_letters.is_empty() {
            let published = retry(settings, &mut shutdown, "publish dead letters", || {
                let (dead_letters, batch) = (dead_letters.clone(), batch.clone());
                async move {
                    dead_letters
                        .publish(&batch.dead_letters)
                        .await
                        .map_err(AggregatorError::from)
                }
            })
            .await?;
            if published.is_none() {
                break;
            }
            failpoint::hit("aggregator.after_dead_letters");
        }
        // Written in the background while the next batch is collected and classified; settled
        // (awaited) before that batch reads the ledger.
        let task = {
            let (settings, mut shutdown) = (settings.clone(), shutdown.clone());
            let (pool, member, owned, batch) =
                (pool.clone(), member.clone(), owned.clone(), batch.clone());
            let (stats, records) = (stats.clone(), records.len());
            tokio::spawn(async move {
                let applied = retry(&settings, &mut shutdown, "apply batch", || {
                    let (member, owned, batch) = (member.clone(), owned.clone(), batch.clone());
                    with_conn(&pool, move |conn| {
                        let started = Instant::now();
                        apply_batch(conn, &member, &owned, &batch)
                            .map(|applied| (applied, started.elapsed()))
                    })
                })
                .await
                .map(|applied| {
                    applied.map(|(applied, commit)| {
                        metrics::batch_committed(&batch, records, applied.new_events, commit);
                        applied
                    })
                });
                // Counted as soon as committed, so the counters never trail the ledger.
                if let Ok(Some(applied)) = &applied {
                    AggregatorStats::add(&stats.batches, 1);
                    AggregatorStats::add(&stats.records, records);
                    AggregatorStats::add(&stats.applied, applied.new_events);
                    AggregatorStats::add(&stats.duplicates, batch.duplicates);
                    AggregatorStats::add(&stats.dead_lettered, batch.dead_letters.len());
                }
                applied
            })
        };
        in_flight = Some(InFlight {
            task,
            batch,
            records: records.len(),
            started,
        });
    }
    if let Some(reading) = prefetch.take() {
        reading.abort();
    }
    // The batch in hand is finished (or, while retrying, abandoned uncommitted). An abandoned
    // batch must not make this instance forget the partitions it hands over below.
    let mut handed_over = owned.clone();
    settle(
        in_flight.take(),
        &mut committed,
        (&mut handed_over, &mut next_heartbeat),
        &stats,
    )
    .await?;
    // Hand the partitions over at once rather than after the lease time; if this fails the
    // leases simply expire.
    let leaving = with_conn(&pool, {
        let (member, owned) = (member.clone(), owned.clone());
        move |conn| leave(conn, &member, &owned)
    });
    if let Err(error) = tokio::time::timeout(Duration::from_secs(2), leaving)
        .await
        .unwrap_or_else(|_| Err(AggregatorError::Invariant("timed out".into())))
    {
        tracing::warn!(%error, "could not release partition leases; they expire on their own");
    }
    tracing::info!(stats = ?stats.snapshot(), "aggregator stopped");
    Ok(())
}

/// A batch being applied in the background.
struct InFlight {
    task: tokio::task::JoinHandle<Result<Option<crate::store::Applied>, AggregatorError>>,
    batch: Arc<Batch>,
    records: usize,
    started: Instant,
}

/// How the batch in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Committed (or there was none).
    Committed,
    /// Shutdown came while it was being retried: nothing of it was written.
    Stopped,
    /// A partition was taken over, or the ledger changed, while it was in hand: nothing of it was
    /// written, the consumer has read past it, and the assignment has been forgotten.
    Abandoned,
}

/// Waits for the batch in flight, if any, and accounts for it: its offsets become the committed
/// ones (its counts went to `stats` when it committed). Errors that retrying cannot fix are
/// returned.
async fn settle(
    in_flight: Option<InFlight>,
    committed: &mut BTreeMap<i32, i64>,
    (owned, next_heartbeat): (&mut Owned, &mut tokio::time::Instant),
    stats: &AggregatorStats,
) -> Result<Settled, AggregatorError> {
    let Some(InFlight {
        task,
        batch,
        records,
        started,
    }) = in_flight
    else {
        return Ok(Settled::Committed);
    };
    let outcome = task
        .await
        .map_err(|error| AggregatorError::Invariant(format!("batch writer failed: {error}")))?;
    let applied = match outcome {
        Ok(Some(applied)) => applied,
        Ok(None) => return Ok(Settled::Stopped),
        Err(error @ (AggregatorError::Fenced { .. } | AggregatorError::Raced(_))) => {
            // Nothing was written. The consumer has read past the batch on every partition, so
            // the assignment is forgotten and a heartbeat is due at once: it takes back what
            // this instance still owns (under a new epoch) and re-reads it from the stored
            // offsets.
            tracing::warn!(%error, "batch abandoned; re-reading from the ledger's offsets");
            AggregatorStats::add(&stats.fenced, 1);
            metrics::batch_abandoned();
            owned.clear();
            *next_heartbeat = tokio::time::Instant::now();
            return Ok(Settled::Abandoned);
        }
        Err(error) => return Err(error),
    };
    failpoint::hit("aggregator.after_commit");
    committed.extend(
        batch
            .next_offsets
            .iter()
            .map(|(partition, next)| (*partition, *next)),
    );
    log_batch(&batch, records, applied.new_events, started);
    Ok(Settled::Committed)
}

/// Assigns the consumer the `owned` partitions of `topic`, each from `RESUME_REWIND` records
/// before its stored offset (from the beginning when there is none), once the offsets are checked
/// against the log.
fn assign(
    consumer: &StreamConsumer,
    topic: &str,
    owned: &Owned,
    offsets: &BTreeMap<i32, i64>,
) -> Result<(), AggregatorError> {
    ensure_offsets_within_log(consumer, topic, offsets)?;
    let mut assignment = TopicPartitionList::new();
    for partition in owned.keys() {
        let offset = offsets.get(partition).map_or(Offset::Beginning, |next| {
            Offset::Offset((next - RESUME_REWIND).max(0))
        });
        assignment.add_partition_offset(topic, *partition, offset)?;
    }
    consumer.assign(&assignment)?;
    Ok(())
}

/// Refuses to resume at a stored offset beyond the end of the log: that happens when the topic
/// was recreated or the broker lost data, and consuming from there would silently skip every new
/// record below the stored offset. The high watermark may trail the true end by one record batch
/// on some brokers (Tansu 0.6), hence the tolerance of `RESUME_REWIND`.
fn ensure_offsets_within_log(
    consumer: &StreamConsumer,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<(), AggregatorError> {
    for (partition, stored) in offsets {
        let (_, log_end) = consumer.fetch_watermarks(topic, *partition, METADATA_TIMEOUT)?;
        if *stored > log_end + RESUME_REWIND {
            return Err(AggregatorError::OffsetsBeyondLog {
                topic: topic.to_owned(),
                partition: *partition,
                stored: *stored,
                log_end,
            });
        }
    }
    Ok(())
}

fn log_batch(batch: &Batch, records: usize, applied: usize, started: Instant) {
    for letter in &batch.dead_letters {
        tracing::warn!(
            partition = letter.record.partition,
            offset = letter.record.offset,
            reason = letter.rejection.reason,
            detail = %letter.rejection.detail,
            "dead-lettered usage record"
        );
    }
    tracing::debug!(
        records,
        applied,
        dead_lettered = batch.dead_letters.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "batch committed"
    );
}

/// Collects up to `max_events` records, waiting at most until `deadline`.
async fn collect(
    consumer: &StreamConsumer,
    max_events: usize,
    deadline: tokio::time::Instant,
    shutdown: &mut Shutdown,
) -> Vec<Record> {
    let mut records = Vec::new();
    while records.len() < max_events {
        tokio::select! {
            received = tokio::time::timeout_at(deadline, consumer.recv()) => match received {
                Ok(Ok(message)) => records.push(Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                }),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "consumer error; librdkafka retries");
                    break;
                }
                Err(_) => break,
            },
            _ = shutdown.triggered() => break,
        }
    }
    records
}

/// Retries `attempt` with exponential backoff until it succeeds (`Some`) or shutdown is
/// triggered (`None`). Errors that would fail the same way again are returned at once (see
/// [`AggregatorError::is_retryable`]): they are bugs or bad data, not outages.
async fn retry<T, F, Fut>(
    settings: &AggregatorSettings,
    shutdown: &mut Shutdown,
    what: &str,
    mut attempt: F,
) -> Result<Option<T>, AggregatorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AggregatorError>>,
{
    let mut backoff = Duration::from_millis(settings.retry_initial_ms);
    let max = Duration::from_millis(settings.retry_max_ms);
    loop {
        match attempt().await {
            Ok(value) => return Ok(Some(value)),
            Err(error) if !error.is_retryable() => return Err(error),
            Err(error) => {
                tracing::warn!(%error, what, backoff_ms = backoff.as_millis() as u64, "step failed; retrying the same batch");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.triggered() => return Ok(None),
                }
                backoff = (backoff * 2).min(max);
            }
        }
    }
}
