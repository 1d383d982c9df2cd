//! The API's single error type. Every failure becomes a status and an RFC 9457 problem body
//! (`gpubill_schema::api::Problem`, `application/problem+json`) whose `code` is stable and
//! machine-readable, and whose `instance` is the request's id.

use crate::current_request;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use gpubill_access::{AccessError, AuthError, SessionError};
use gpubill_domain::access::KeySpecError;
use gpubill_domain::scheduler::PlacementError;
use gpubill_ledger::LedgerError;
use gpubill_platform::DbError;
use gpubill_scheduler::{QuotaVerdict, SchedulerError};
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::problem::FieldDetails;
use gpubill_schema::api::{PROBLEM_JSON, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    /// The request is well-formed but the ledger's state refuses it (409).
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// The request is well-formed but its content cannot be acted on (422).
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    /// As `Unprocessable`, naming what was refused in `details` (e.g. `{"field": "siren"}`).
    #[error("{message}")]
    Invalid {
        code: ErrorCode,
        message: String,
        details: serde_json::Value,
    },
    /// Refused by a limit or by the cluster's capacity (409), with the figures in `details`.
    #[error("{message}")]
    Refused {
        code: ErrorCode,
        message: String,
        details: serde_json::Value,
    },
    /// No usable API key (401, with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthenticated(AuthError),
    /// A valid key whose role may not do this (403).
    #[error("{message}")]
    Forbidden { message: String },
    /// The path exists, the method does not (405, with `Allow`).
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// A body over the limit (413).
    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    /// A body that is not JSON (415).
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// A path or query string over the limit (414).
    #[error("the {part} is longer than {limit_bytes} bytes")]
    UriTooLong {
        part: &'static str,
        limit_bytes: usize,
    },
    #[error("the ledger is unavailable")]
    Unavailable(#[source] DbError),
    /// This instance does not run the scheduler's decisions (503).
    #[error("{0}")]
    SchedulerUnavailable(String),
    /// Not able to serve now (503), for a reason the code names.
    #[error("{message}")]
    Unready { code: ErrorCode, message: String },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    /// 404 `tenant_not_found`: for a tenant that does not exist and, in the same words, for one
    /// the caller may not see.
    pub fn tenant_not_found(tenant_id: &str) -> Self {
        Self::not_found(
            ErrorCode::TenantNotFound,
            format!("tenant `{tenant_id}` does not exist"),
        )
    }

    pub fn unavailable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Unready {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Invalid { code, .. }
            | Self::Refused { code, .. } => *code,
            Self::Unauthenticated(AuthError::Unavailable(_)) => ErrorCode::AuthUnavailable,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::UriTooLong { .. } => ErrorCode::UriTooLong,
            Self::Unavailable(_) => ErrorCode::LedgerUnavailable,
            Self::SchedulerUnavailable(_) => ErrorCode::SchedulerUnavailable,
            Self::Unready { code, .. } => *code,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Pool(_) | DbError::Connect(_) => Self::Unavailable(error),
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
            LedgerError::NotFound(_) => Self::not_found(ErrorCode::NotFound, error.to_string()),
            LedgerError::UnknownTenant(tenant) => Self::tenant_not_found(&tenant),
            LedgerError::Conflict(_) => Self::conflict(ErrorCode::IdReused, error.to_string()),
            LedgerError::PeriodOpen { .. } => {
                Self::conflict(ErrorCode::PeriodOpen, error.to_string())
            }
            LedgerError::BillingProfileMissing(_) => {
                Self::unprocessable(ErrorCode::BillingProfileMissing, error.to_string())
            }
            LedgerError::InvalidIdentity(identity) => Self::Invalid {
                code: ErrorCode::InvalidBillingProfile,
                message: identity.to_string(),
                details: serde_json::to_value(FieldDetails {
                    field: identity.field().to_owned(),
                })
                .unwrap_or_default(),
            },
            LedgerError::NoEInvoice(_) => Self::conflict(ErrorCode::NoEInvoice, error.to_string()),
            LedgerError::Refused(_) | LedgerError::Journal(_) | LedgerError::Numbering(_) => {
                Self::unprocessable(ErrorCode::Refused, error.to_string())
            }
            // The database's own guards (credit overdrawn, one live invoice per month, ...).
            LedgerError::Db(Diesel::DatabaseError(DatabaseErrorKind::CheckViolation, info)) => {
                Self::conflict(ErrorCode::RefusedByLedger, info.message().to_owned())
            }
            LedgerError::Db(other) => Self::from(other),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<KeySpecError> for ApiError {
    fn from(error: KeySpecError) -> Self {
        Self::unprocessable(ErrorCode::InvalidKeySpec, error.to_string())
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Spec(spec) => Self::from(spec),
            AccessError::UnknownTenant(tenant) => Self::tenant_not_found(&tenant),
            AccessError::UnknownNode(node) => Self::not_found(
                ErrorCode::NodeNotFound,
                format!("node `{node}` does not exist"),
            ),
            AccessError::UnknownKey(_) => {
                Self::not_found(ErrorCode::KeyNotFound, error.to_string())
            }
            AccessError::Db(db) => Self::from(db),
            AccessError::Random(_) | AccessError::Invariant(_) => Self::Internal(error.to_string()),
        }
    }
}

impl From<SchedulerError> for ApiError {
    fn from(error: SchedulerError) -> Self {
        match error {
            SchedulerError::Invalid { code, message } => Self::bad_request(code, message),
            SchedulerError::UnknownTenant(tenant) => Self::tenant_not_found(&tenant),
            SchedulerError::UnknownAllocation(_) => {
                Self::not_found(ErrorCode::AllocationNotFound, error.to_string())
            }
            SchedulerError::UnknownNode(_) => {
                Self::not_found(ErrorCode::NodeNotFound, error.to_string())
            }
            SchedulerError::Quota(ref refusal) => Self::Refused {
                code: ErrorCode::QuotaExceeded,
                message: error.to_string(),
                details: serde_json::to_value(QuotaVerdict::from(refusal))
                    .unwrap_or(serde_json::Value::Null),
            },
            SchedulerError::Placement(ref placement) => match placement {
                PlacementError::NoCapacity { .. } => Self::Refused {
                    code: ErrorCode::InsufficientCapacity,
                    message: error.to_string(),
                    details: serde_json::Value::Null,
                },
                PlacementError::NoReservation(_) => {
                    Self::unprocessable(ErrorCode::NoReservation, error.to_string())
                }
                PlacementError::UnknownSku(_) => {
                    Self::unprocessable(ErrorCode::SkuNotInCluster, error.to_string())
                }
                PlacementError::ZeroCount
                | PlacementError::NotWholeNodes { .. }
                | PlacementError::TooManyInstances { .. } => {
                    Self::unprocessable(ErrorCode::InvalidGang, error.to_string())
                }
            },
            SchedulerError::IdempotencyKeyReused { .. } => {
                Self::conflict(ErrorCode::IdempotencyKeyReused, error.to_string())
            }
            SchedulerError::NotRunning { .. } => {
                Self::conflict(ErrorCode::NotRunning, error.to_string())
            }
            SchedulerError::NotLeader => Self::SchedulerUnavailable(error.to_string()),
            SchedulerError::Ledger(ledger) => Self::from(ledger),
            SchedulerError::Db(db) => Self::from(db),
            SchedulerError::Invariant(_) => Self::Internal(error.to_string()),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Auth(auth) => Self::Unauthenticated(auth),
            SessionError::Refused(gpubill_domain::portal::SessionRefused::OtherTenant(tenant)) => {
                Self::tenant_not_found(&tenant)
            }
            SessionError::Refused(refused) => Self::forbidden(refused.to_string()),
            SessionError::Access(access) => Self::from(access),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } | Self::Refused { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } | Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::Unavailable(_) | Self::SchedulerUnavailable(_) | Self::Unready { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            // RFC 6750: the scheme, and `invalid_token` when a token was sent but is not usable.
            Self::Unauthenticated(AuthError::Missing) => {
                response.insert_header(("WWW-Authenticate", "Bearer realm=\"gpubill\""));
            }
            Self::Unauthenticated(AuthError::Unavailable(_)) => {}
            Self::Unauthenticated(_) => {
                response.insert_header((
                    "WWW-Authenticate",
                    "Bearer realm=\"gpubill\", error=\"invalid_token\"",
                ));
            }
            Self::MethodNotAllowed { allow, .. } => {
                response.insert_header(("Allow", allow.as_str()));
            }
            _ => {}
        }
        let mut problem = Problem::new(self.code(), self.status_code().as_u16(), self.to_string());
        problem.instance = current_request::id().map(Problem::instance_of);
        if let Self::Refused { details, .. } | Self::Invalid { details, .. } = self {
            problem.details = Some(details.clone());
        }
        // `json` keeps the content type set before it.
        response.content_type(PROBLEM_JSON).json(problem)
    }
}
