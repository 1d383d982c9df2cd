//! The aggregator's Prometheus metrics. Batch counts are recorded when the batch's transaction
//! has committed, so after a run they equal what the ledger holds (events billed) and what the
//! dead-letter topic received; a batch abandoned or retried counts once, when it commits.
//! Consumer lag is measured by a task of its own against the broker's high watermarks and the
//! offsets committed in Postgres, for every partition of the usage topic: every instance reports
//! the consumer's whole lag, so a stuck owner's partitions are still seen (take the maximum per
//! partition across instances).

use crate::batch::Batch;
use crate::error::AggregatorError;
use crate::store::load_offsets;
use gpubill_platform::Shutdown;
use gpubill_platform::config::KafkaSettings;
use gpubill_platform::db::{PgPool, with_conn};
use gpubill_platform::kafka::consumer_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::BTreeMap;
use std::time::Duration;

pub const RECORDS: &str = "gpubill_aggregator_records_total";
pub const EVENTS_BILLED: &str = "gpubill_aggregator_events_billed_total";
pub const DUPLICATES: &str = "gpubill_aggregator_duplicates_total";
pub const DEAD_LETTERS: &str = "gpubill_aggregator_dead_letters_total";
pub const BATCH_RECORDS: &str = "gpubill_aggregator_batch_records";
pub const COMMIT_SECONDS: &str = "gpubill_aggregator_commit_duration_seconds";
pub const CONSUMER_LAG: &str = "gpubill_aggregator_consumer_lag";
pub const LEASE_CHANGES: &str = "gpubill_aggregator_lease_changes_total";
pub const BATCHES_ABANDONED: &str = "gpubill_aggregator_batches_abandoned_total";

/// How often the consumer lag is measured.
pub const LAG_EVERY: Duration = Duration::from_secs(10);
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

/// Describes the aggregator's metrics (the `# HELP` lines).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        RECORDS,
        "Usage-topic records consumed, in committed batches"
    );
    describe_counter!(EVENTS_BILLED, "Events written to the ledger and billed");
    describe_counter!(
        DUPLICATES,
        "Valid events dropped: the ledger or the batch had them already, identical"
    );
    describe_counter!(
        DEAD_LETTERS,
        "Records sent to the dead-letter topic, by reason"
    );
    describe_histogram!(BATCH_RECORDS, "Records in a committed batch");
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "Time to write a batch and its offsets in one transaction"
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records of a usage-topic partition not yet committed to the ledger"
    );
    describe_counter!(
        LEASE_CHANGES,
        "Changes of the set of partitions this instance owns"
    );
    describe_counter!(
        BATCHES_ABANDONED,
        "Batches abandoned unwritten: a partition was taken over, or the ledger changed"
    );
}

/// Counts a batch whose transaction has committed.
pub fn batch_committed(batch: &Batch, records: usize, events_billed: usize, commit: Duration) {
    metrics::counter!(RECORDS).increment(records as u64);
    metrics::counter!(EVENTS_BILLED).increment(events_billed as u64);
    metrics::counter!(DUPLICATES).increment(batch.duplicates as u64);
    for letter in &batch.dead_letters {
        metrics::counter!(DEAD_LETTERS, "reason" => letter.rejection.reason).increment(1);
    }
    metrics::histogram!(BATCH_RECORDS).record(records as f64);
    metrics::histogram!(COMMIT_SECONDS).record(commit.as_secs_f64());
}

pub fn lease_changed() {
    metrics::counter!(LEASE_CHANGES).increment(1);
}

pub fn batch_abandoned() {
    metrics::counter!(BATCHES_ABANDONED).increment(1);
}

/// Per partition, the records between the committed offset (none: the log's start) and the
/// high watermark.
pub fn lag(
    high_watermarks: &BTreeMap<i32, i64>,
    committed: &BTreeMap<i32, i64>,
) -> BTreeMap<i32, i64> {
    high_watermarks
        .iter()
        .map(|(partition, high)| {
            let next = committed.get(partition).copied().unwrap_or(0);
            (*partition, (high - next).max(0))
        })
        .collect()
}

/// Measures the lag of `consumer` on the usage topic every [`LAG_EVERY`] until `shutdown`.
pub fn spawn_lag(
    kafka: &KafkaSettings,
    pool: PgPool,
    consumer_name: String,
    partitions: i32,
    mut shutdown: Shutdown,
) -> Result<tokio::task::JoinHandle<()>, AggregatorError> {
    let client: std::sync::Arc<BaseConsumer> =
        std::sync::Arc::new(consumer_config(kafka, "gpubill-aggregator-lag").create()?);
    let topic = kafka.usage_topic.clone();
    Ok(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(LAG_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.triggered() => break,
            }
            let measured = measure_lag(&client, &pool, &consumer_name, &topic, partitions).await;
            match measured {
                Ok(lag) => {
                    for (partition, records) in lag {
                        metrics::gauge!(CONSUMER_LAG, "partition" => partition.to_string())
                            .set(records as f64);
                    }
                }
                Err(error) => tracing::debug!(%error, "cannot measure the consumer lag"),
            }
        }
    }))
}

async fn measure_lag(
    client: &std::sync::Arc<BaseConsumer>,
    pool: &PgPool,
    consumer_name: &str,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, i64>, AggregatorError> {
    let high = {
        let (client, topic) = (client.clone(), topic.to_owned());
        tokio::task::spawn_blocking(move || {
            (0..partitions)
                .map(|partition| {
                    client
                        .fetch_watermarks(&topic, partition, WATERMARK_TIMEOUT)
                        .map(|(_, high)| (partition, high))
                })
                .collect::<Result<BTreeMap<i32, i64>, _>>()
        })
        .await
        .map_err(|error| AggregatorError::Invariant(format!("lag task: {error}")))??
    };
    let committed = {
        let (consumer, topic) = (consumer_name.to_owned(), topic.to_owned());
        with_conn(pool, move |conn| load_offsets(conn, &consumer, &topic)).await?
    };
    Ok(lag(&high, &committed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_what_the_log_holds_beyond_the_committed_offset() {
        let high = BTreeMap::from([(0, 10), (1, 5), (2, 0)]);
        let committed = BTreeMap::from([(0, 10), (1, 2)]);
        assert_eq!(
            lag(&high, &committed),
            BTreeMap::from([(0, 0), (1, 3), (2, 0)])
        );
    }
}
