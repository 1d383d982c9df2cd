//! The API's error body, RFC 9457 problem details (`application/problem+json`): `type` (a
//! stable URI per code, `urn:gpubill:problem:<code>`), `title`, `status`, `detail`, `instance`
//! (the request id, `urn:uuid:<id>`), and gpubill's machine-readable `code` with, for refusals
//! that have figures (quota), `details`. Every code the API answers is an [`ErrorCode`].

use serde::{Deserialize, Serialize};

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type`; the code follows.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:gpubill:problem:";

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $title:literal;)*) => {
        /// Every error code of the API, with its stable text and title.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(#[serde(rename = $code)] $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it is written in bodies (`tenant_not_found`).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// A short, human-readable summary of the problem type.
            pub fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)* }
            }
        }
    };
}

error_codes! {
    InvalidQuery => "invalid_query", "Invalid query string";
    InvalidPath => "invalid_path", "Invalid path parameter";
    InvalidPeriod => "invalid_period", "Invalid billing period";
    InvalidBody => "invalid_body", "Invalid request body";
    InvalidRequest => "invalid_request", "Invalid request";
    MalformedRequest => "malformed_request", "Not an HTTP/1.1 request";
    InvalidAmount => "invalid_amount", "Invalid amount";
    InvalidSource => "invalid_source", "Invalid credit source";
    InvalidLimit => "invalid_limit", "Invalid page size";
    InvalidCursor => "invalid_cursor", "Invalid cursor";
    InvalidRole => "invalid_role", "Invalid key role";
    InvalidState => "invalid_state", "Invalid node state";
    InvalidStatus => "invalid_status", "Invalid allocation status";
    InvalidSince => "invalid_since", "Invalid window start";
    InvalidClass => "invalid_class", "Invalid price class";
    InvalidGpus => "invalid_gpus", "Invalid number of GPUs";
    InvalidIdempotencyKey => "invalid_idempotency_key", "Invalid idempotency key";
    InvalidMaxDuration => "invalid_max_duration", "Invalid maximum duration";
    InvalidPriority => "invalid_priority", "Invalid priority";
    Unauthenticated => "unauthenticated", "Authentication required";
    Forbidden => "forbidden", "Forbidden";
    TenantNotFound => "tenant_not_found", "Tenant not found";
    NotFound => "not_found", "Not found";
    AllocationNotFound => "allocation_not_found", "Allocation not found";
    NodeNotFound => "node_not_found", "Node not found";
    KeyNotFound => "key_not_found", "API key not found";
    RouteNotFound => "route_not_found", "No such route";
    MethodNotAllowed => "method_not_allowed", "Method not allowed";
    RequestTimeout => "request_timeout", "Request head not received in time";
    PeriodOpen => "period_open", "Billing period still open";
    IdReused => "id_reused", "Id already used";
    RefusedByLedger => "refused_by_ledger", "Refused by the ledger";
    QuotaExceeded => "quota_exceeded", "Quota exceeded";
    InsufficientCapacity => "insufficient_capacity", "Insufficient capacity";
    IdempotencyKeyReused => "idempotency_key_reused", "Idempotency key reused";
    IdempotencyRequestInProgress => "idempotency_request_in_progress", "Request with this idempotency key in progress";
    NotRunning => "not_running", "Allocation not running";
    PayloadTooLarge => "payload_too_large", "Request body too large";
    UriTooLong => "uri_too_long", "URI too long";
    UnsupportedMediaType => "unsupported_media_type", "Unsupported media type";
    RequestHeaderFieldsTooLarge => "request_header_fields_too_large", "Request head too large";
    InvalidContract => "invalid_contract", "Invalid contract";
    UnknownSku => "unknown_sku", "Unknown SKU";
    NoPrice => "no_price", "No price for this SKU and class";
    NothingToBill => "nothing_to_bill", "Nothing to bill";
    BillingProfileMissing => "billing_profile_missing", "Billing profile missing";
    InvalidBillingProfile => "invalid_billing_profile", "Invalid billing profile";
    InvalidSyntax => "invalid_syntax", "Invalid e-invoice syntax";
    NoEInvoice => "no_e_invoice", "No e-invoice for this document";
    InvalidYear => "invalid_year", "Invalid fiscal year";
    InvalidTime => "invalid_time", "Invalid time or window";
    InvalidFormat => "invalid_format", "Invalid export format";
    InvalidExportOption => "invalid_export_option", "Invalid export option";
    AmountAboveMaximum => "amount_above_maximum", "Amount above the maximum";
    InvalidKeySpec => "invalid_key_spec", "Invalid key";
    InvalidGang => "invalid_gang", "Invalid GPU gang";
    NoReservation => "no_reservation", "No reservation";
    SkuNotInCluster => "sku_not_in_cluster", "SKU not in the cluster";
    Refused => "refused", "Refused";
    LedgerUnavailable => "ledger_unavailable", "Ledger unavailable";
    AuthUnavailable => "auth_unavailable", "API keys cannot be checked";
    SchedulerUnavailable => "scheduler_unavailable", "Scheduler not running on this instance";
    NotReady => "not_ready", "Not ready";
    InternalError => "internal_error", "Internal error";
    PortalLinkInvalid => "portal_link_invalid", "Portal sign-in link not valid";
    PortalSignInRefused => "portal_sign_in_refused", "Portal sign-in refused";
    CsrfRejected => "csrf_rejected", "Cross-site request refused";
}

impl ErrorCode {
    /// The problem `type` of this code: `urn:gpubill:problem:<code>`.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.as_str())
    }
}

/// The schema of a code: a string, one of the codes' texts (written by hand: the derive does not
/// see the serde names inside the macro that declares the codes).
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A stable, machine-readable error code (docs/errors.md).",
            ))
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// `urn:uuid:<request id>`, the request's `X-Request-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub code: ErrorCode,
    /// The figures of a refusal (a quota check's limit, use and request), or the field an
    /// invalid document was refused for ([`FieldDetails`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The `details` of a refusal that names one field (`invalid_billing_profile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDetails {
    pub field: String,
}

impl Problem {
    pub fn new(code: ErrorCode, status: u16, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: code.type_uri(),
            title: code.title().to_owned(),
            status,
            detail: detail.into(),
            instance: None,
            code,
            details: None,
        }
    }

    /// The instance URI of a request id.
    pub fn instance_of(request_id: uuid::Uuid) -> String {
        format!("urn:uuid:{request_id}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_code_writes_and_reads_back_as_its_text() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
            assert!(!code.title().is_empty());
        }
    }

    #[test]
    fn every_code_is_documented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md");
        let doc = std::fs::read_to_string(path).unwrap();
        for code in ErrorCode::ALL {
            assert!(
                doc.contains(&format!("| `{code}` |")),
                "docs/errors.md lacks {code}"
            );
        }
    }

    #[test]
    fn a_problem_is_rfc_9457_with_the_code_beside() {
        let mut problem = Problem::new(ErrorCode::TenantNotFound, 404, "tenant `x` does not exist");
        problem.instance = Some(Problem::instance_of(uuid::Uuid::nil()));
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["type"], "urn:gpubill:problem:tenant_not_found");
        assert_eq!(json["title"], "Tenant not found");
        assert_eq!(json["status"], 404);
        assert_eq!(
            json["instance"],
            "urn:uuid:00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(json["code"], "tenant_not_found");
        assert!(json.get("details").is_none());
    }
}
