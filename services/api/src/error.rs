//! The API's single error type. Every failure becomes a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`; `code` is stable and machine-readable.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use gpubill_domain::scheduler::PlacementError;
use gpubill_ledger::LedgerError;
use gpubill_platform::DbError;
use gpubill_scheduler::{QuotaVerdict, SchedulerError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request is well-formed but the ledger's state refuses it (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The request is well-formed but its content cannot be acted on (422).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// Refused by a limit or by the cluster's capacity (409), with the figures in `details`.
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: String,
        details: serde_json::Value,
    },
    #[error("the ledger is unavailable")]
    Unavailable(#[source] DbError),
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Refused { code, .. } => code,
            Self::Unavailable(_) => "ledger_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Pool(_) => Self::Unavailable(error),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::from(DbError::Query(error))
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        match error {
            LedgerError::NotFound(_) => Self::not_found("not_found", error.to_string()),
            LedgerError::UnknownTenant(_) => Self::not_found("tenant_not_found", error.to_string()),
            LedgerError::Conflict(_) => Self::conflict("id_reused", error.to_string()),
            LedgerError::PeriodOpen { .. } => Self::conflict("period_open", error.to_string()),
            LedgerError::Refused(_) | LedgerError::Journal(_) | LedgerError::Numbering(_) => {
                Self::unprocessable("refused", error.to_string())
            }
            // The database's own guards (credit overdrawn, one live invoice per month, ...).
            LedgerError::Db(Diesel::DatabaseError(DatabaseErrorKind::CheckViolation, info)) => {
                Self::conflict("refused_by_ledger", info.message().to_owned())
            }
            LedgerError::Db(other) => Self::from(other),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<SchedulerError> for ApiError {
    fn from(error: SchedulerError) -> Self {
        match error {
            SchedulerError::Invalid { code, message } => Self::bad_request(code, message),
            SchedulerError::UnknownTenant(_) => {
                Self::not_found("tenant_not_found", error.to_string())
            }
            SchedulerError::UnknownAllocation(_) => {
                Self::not_found("allocation_not_found", error.to_string())
            }
            SchedulerError::UnknownNode(_) => Self::not_found("node_not_found", error.to_string()),
            SchedulerError::Quota(ref refusal) => Self::Refused {
                code: "quota_exceeded",
                message: error.to_string(),
                details: serde_json::to_value(QuotaVerdict::from(refusal))
                    .unwrap_or(serde_json::Value::Null),
            },
            SchedulerError::Placement(ref placement) => match placement {
                PlacementError::NoCapacity { .. } => Self::Refused {
                    code: "insufficient_capacity",
                    message: error.to_string(),
                    details: serde_json::Value::Null,
                },
                PlacementError::NoReservation(_) => {
                    Self::unprocessable("no_reservation", error.to_string())
                }
                PlacementError::UnknownSku(_) => {
                    Self::unprocessable("sku_not_in_cluster", error.to_string())
                }
                PlacementError::ZeroCount
                | PlacementError::NotWholeNodes { .. }
                | PlacementError::TooManyInstances { .. } => {
                    Self::unprocessable("invalid_gang", error.to_string())
                }
            },
            SchedulerError::IdempotencyKeyReused { .. } => {
                Self::conflict("idempotency_key_reused", error.to_string())
            }
            SchedulerError::NotRunning { .. } => Self::conflict("not_running", error.to_string()),
            SchedulerError::Ledger(ledger) => Self::from(ledger),
            SchedulerError::Db(db) => Self::from(db),
            SchedulerError::Invariant(_) => Self::Internal(error.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } | Self::Refused { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(detail) => tracing::error!(%detail, "request failed"),
            Self::Unavailable(source) => {
                tracing::warn!(error = %source, "request failed: ledger unavailable")
            }
            _ => {}
        }
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                details: match self {
                    Self::Refused { details, .. } => Some(details),
                    _ => None,
                },
            },
        })
    }
}
