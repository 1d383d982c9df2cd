//! The API's single error type. Every failure becomes a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`; `code` is stable and machine-readable.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use gpubill_access::{AccessError, AuthError};
use gpubill_domain::access::KeySpecError;
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

    /// 404 `tenant_not_found`: for a tenant that does not exist and, in the same words, for one
    /// the caller may not see.
    pub fn tenant_not_found(tenant_id: &str) -> Self {
        Self::not_found(
            "tenant_not_found",
            format!("tenant `{tenant_id}` does not exist"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Refused { code, .. } => code,
            Self::Unauthenticated(AuthError::Unavailable(_)) => "auth_unavailable",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UriTooLong { .. } => "uri_too_long",
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
            LedgerError::UnknownTenant(tenant) => Self::tenant_not_found(&tenant),
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

impl From<KeySpecError> for ApiError {
    fn from(error: KeySpecError) -> Self {
        Self::unprocessable("invalid_key_spec", error.to_string())
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Spec(spec) => Self::from(spec),
            AccessError::UnknownTenant(tenant) => Self::tenant_not_found(&tenant),
            AccessError::UnknownNode(node) => {
                Self::not_found("node_not_found", format!("node `{node}` does not exist"))
            }
            AccessError::UnknownKey(_) => Self::not_found("key_not_found", error.to_string()),
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
            Self::Unauthenticated(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
        response.json(ErrorBody {
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
