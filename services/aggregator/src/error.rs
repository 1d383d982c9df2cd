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
         consumed. If the topic was recreated on purpose, run `gpubill replay` to re-read it from the start \
         (events already billed are dropped as duplicates)"
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

impl From<gpubill_ledger::LedgerError> for AggregatorError {
    fn from(error: gpubill_ledger::LedgerError) -> Self {
        match error {
            gpubill_ledger::LedgerError::Db(error) => Self::Db(DbError::Query(error)),
            other => Self::Invariant(other.to_string()),
        }
    }
}

impl AggregatorError {
    /// Whether retrying the same step can succeed: outages can pass, but a broken invariant, a
    /// lost lease, a stale read or data the database refuses (a constraint violation) fail the
    /// same way every time, and retrying them would hold the batch forever in silence.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error as Diesel};
        match self {
            Self::Invariant(_)
            | Self::Fenced { .. }
            | Self::Raced(_)
            | Self::OffsetsBeyondLog { .. } => false,
            Self::Db(DbError::Migration(_)) => false,
            Self::Db(DbError::Query(Diesel::DatabaseError(kind, _))) => !matches!(
                kind,
                Kind::UniqueViolation
                    | Kind::ForeignKeyViolation
                    | Kind::NotNullViolation
                    | Kind::CheckViolation
                    | Kind::ExclusionViolation
                    | Kind::RestrictViolation
            ),
            Self::Db(_) | Self::Kafka(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as Diesel};

    fn database_error(kind: DatabaseErrorKind) -> AggregatorError {
        AggregatorError::Db(DbError::Query(Diesel::DatabaseError(
            kind,
            Box::new("violation".to_owned()),
        )))
    }

    #[test]
    fn outages_are_retried_and_refused_data_is_not() {
        assert!(database_error(DatabaseErrorKind::ClosedConnection).is_retryable());
        assert!(database_error(DatabaseErrorKind::SerializationFailure).is_retryable());
        assert!(AggregatorError::Db(DbError::Task("cancelled".into())).is_retryable());
        assert!(!database_error(DatabaseErrorKind::CheckViolation).is_retryable());
        assert!(!database_error(DatabaseErrorKind::ForeignKeyViolation).is_retryable());
        assert!(!AggregatorError::Raced("stale".into()).is_retryable());
    }
}
