//! The aggregator's error type.

use gpubill_platform::DbError;
use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("Kafka error: {0}")]
    Kafka(#[from] KafkaError),
    #[error("invariant broken: {0}")]
    Invariant(String),
    #[error("{topic}[{partition}] is owned by another instance now; the batch was not written")]
    Fenced { topic: String, partition: i32 },
    #[error("the ledger changed under the batch ({0}); the batch was not written and is re-read")]
    Raced(String),
    #[error(
        "the ledger has consumed {topic}[{partition}] up to offset {stored}, but the log ends near {log_end}: \
         the topic was recreated or the broker lost data, and resuming would skip new records. Nothing was \
         consumed. If the topic was recreated on purpose, delete this consumer's rows of consumer_offsets to \
         re-read it from the start (events already billed are dropped as duplicates)"
    )]
    OffsetsBeyondLog {
        topic: String,
        partition: i32,
        stored: i64,
        log_end: i64,
    },
}

impl From<diesel::result::Error> for AggregatorError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(error))
    }
}
