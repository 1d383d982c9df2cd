//! How far the ledger is behind what was produced: the records that producers had acknowledged and
//! that no offset committed in Postgres covers yet.

use crate::error::AggregatorError;
use crate::store::load_offsets;
use gpubill_platform::db::{PgPool, with_conn};
use gpubill_platform::kafka::DeliveredOffsets;

/// Records of `topic` up to `delivered` that `consumer` has not committed yet.
pub async fn uncommitted(
    pool: &PgPool,
    consumer: &str,
    topic: &str,
    delivered: &DeliveredOffsets,
) -> Result<i64, AggregatorError> {
    let (consumer, topic) = (consumer.to_owned(), topic.to_owned());
    let committed = with_conn(pool, move |conn| load_offsets(conn, &consumer, &topic)).await?;
    Ok(delivered
        .next_offsets()
        .iter()
        .map(|(partition, next)| (next - committed.get(partition).copied().unwrap_or(0)).max(0))
        .sum())
}
