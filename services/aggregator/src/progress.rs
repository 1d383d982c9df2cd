//! How far behind the aggregator is: the records on the broker that no committed offset covers.

use crate::error::AggregatorError;
use crate::store::load_offsets;
use gpubill_platform::config::KafkaSettings;
use gpubill_platform::db::{PgPool, with_conn};
use gpubill_platform::kafka::high_watermarks;

/// Records of `kafka.usage_topic` not yet committed by `consumer`, over all partitions.
pub async fn consumer_lag(
    pool: &PgPool,
    kafka: &KafkaSettings,
    consumer: &str,
) -> Result<i64, AggregatorError> {
    let topic = kafka.usage_topic.clone();
    let watermarks = {
        let kafka = kafka.clone();
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || high_watermarks(&kafka, &topic))
            .await
            .map_err(|e| AggregatorError::Invariant(format!("watermark task failed: {e}")))??
    };
    let consumer = consumer.to_owned();
    let committed = with_conn(pool, move |conn| load_offsets(conn, &consumer, &topic)).await?;
    Ok(watermarks
        .iter()
        .map(|(partition, high)| (high - committed.get(partition).copied().unwrap_or(0)).max(0))
        .sum())
}
