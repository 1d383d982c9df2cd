//! Why the scheduler refused or failed a request; the API maps each kind to an HTTP status.

use gpubill_domain::scheduler::{PlacementError, Refusal, StateError};
use gpubill_schema::api::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The request itself is wrong (`code` names the field or rule).
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    #[error("tenant `{0}` does not exist")]
    UnknownTenant(String),
    #[error("allocation `{0}` does not exist")]
    UnknownAllocation(String),
    #[error("node `{0}` does not exist")]
    UnknownNode(String),
    /// Admission refused: a quota, the GPU-hours or the budget would be exceeded.
    #[error("quota exceeded: {0}")]
    Quota(Refusal),
    /// No placement, even preempting what may be preempted.
    #[error("{0}")]
    Placement(PlacementError),
    #[error("idempotency key `{key}` was used for another request (allocation `{allocation}`)")]
    IdempotencyKeyReused { key: String, allocation: String },
    #[error("allocation `{id}` is {status}, not running")]
    NotRunning { id: String, status: String },
    #[error(
        "another gpubill api runs the scheduler on this database: this instance serves reads only (restart it to take over once that one stops)"
    )]
    NotLeader,
    #[error("scheduler state is inconsistent: {0}")]
    Invariant(String),
    #[error(transparent)]
    Ledger(#[from] gpubill_ledger::LedgerError),
    #[error(transparent)]
    Db(#[from] gpubill_platform::DbError),
}

impl From<diesel::result::Error> for SchedulerError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(gpubill_platform::DbError::Query(error))
    }
}

impl From<StateError> for SchedulerError {
    fn from(error: StateError) -> Self {
        Self::Invariant(error.to_string())
    }
}

impl SchedulerError {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}
