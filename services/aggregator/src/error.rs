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
}

impl From<diesel::result::Error> for AggregatorError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(error))
    }
}
