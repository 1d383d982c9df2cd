//! What wraps every request, before routing: a request id (a new UUID, answered in
//! `X-Request-Id` and shared by the logs and the audit trail), and the checks of the URL that no
//! route should have to repeat: a NUL byte (`%00`) anywhere in the path or query is refused with
//! 400 before it can reach SQL, and a path or query string over its limit with 414.

use crate::current_request;
use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use gpubill_schema::api::ErrorCode;
use std::future::{Ready, ready};
use std::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

/// Longest path, and longest query string, accepted.
pub const MAX_PATH_BYTES: usize = 2048;
pub const MAX_QUERY_BYTES: usize = 4096;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub Uuid);

impl FromRequest for RequestId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(from_extensions(request))
    }
}

/// What a middleware left in the request for the handler; its absence is a route wired without
/// that middleware.
pub(crate) fn from_extensions<T: Clone + 'static>(request: &HttpRequest) -> Result<T, ApiError> {
    request.extensions().get::<T>().cloned().ok_or_else(|| {
        ApiError::Internal(format!(
            "{} {}: no {} from the middleware",
            request.method(),
            request.path(),
            std::any::type_name::<T>()
        ))
    })
}

/// The middleware: see the module's documentation.
pub async fn envelope(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = Uuid::new_v4();
    request.extensions_mut().insert(RequestId(request_id));
    // At debug level: a span on every request costs more than the quota check itself. What a
    // request changes is logged in an info span by the access guard, and failures below with
    // the id, whatever the level.
    let span = tracing::debug_span!("request", request_id = %request_id);
    let answer = current_request::scope(request_id, async move {
        match check_uri(request.uri()) {
            Err(error) => Ok(request.error_response(error)),
            // Handlers' errors arrive here as answers; an error of the middleware itself is
            // answered by actix from its `ResponseError` (still JSON, without the id header).
            Ok(()) => next
                .call(request)
                .instrument(span)
                .await
                .map(ServiceResponse::map_into_boxed_body),
        }
    });
    let mut response = answer.await?;
    log_failure(&response, request_id);
    crate::metrics::record(&response, started.elapsed());

    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = request_id.hyphenated().encode_lower(&mut text);
    if let Ok(value) = HeaderValue::from_str(text) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// Logs an answer that failed on the server's side (5xx) with its request id and what failed.
fn log_failure(response: &ServiceResponse<BoxBody>, request_id: Uuid) {
    let status = response.status().as_u16();
    if status < 500 {
        return;
    }
    let request = response.request();
    let (method, path) = (request.method().as_str(), request.path());
    match response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
    {
        Some(ApiError::Unavailable(source)) => {
            tracing::warn!(%request_id, method, path, status, error = %source, "request failed: ledger unavailable")
        }
        Some(ApiError::Internal(detail)) => {
            tracing::error!(%request_id, method, path, status, %detail, "request failed")
        }
        Some(other) => {
            tracing::warn!(%request_id, method, path, status, error = %other, "request refused")
        }
        None => tracing::error!(%request_id, method, path, status, "request failed"),
    }
}

/// Refuses a NUL byte in the path or query (raw or percent-encoded) and over-long parts.
pub fn check_uri(uri: &actix_web::http::Uri) -> Result<(), ApiError> {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    if path.len() > MAX_PATH_BYTES {
        return Err(ApiError::UriTooLong {
            part: "path",
            limit_bytes: MAX_PATH_BYTES,
        });
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::UriTooLong {
            part: "query string",
            limit_bytes: MAX_QUERY_BYTES,
        });
    }
    let has_nul = |part: &str| part.contains('\0') || part.to_ascii_lowercase().contains("%00");
    if has_nul(path) || has_nul(query) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "the URL contains a NUL byte (%00)",
        ));
    }
    Ok(())
}
