//! `Idempotency-Key` on the POSTs that change state: the first request with a key (per API key)
//! is answered and its answer stored; a retry with the same key and the same request (method,
//! path and body) gets that answer again, with `Idempotent-Replayed: true`; the same key with
//! another request is 409 `idempotency_key_reused`, and while the first is still being answered
//! 409 `idempotency_request_in_progress`. Keys keep their answer for 24 hours
//! (`gpubill_access::idempotency::KEY_LIFETIME`). A failure of the server's own (5xx) is not
//! kept: a retry runs the request again.

use crate::AppState;
use crate::error::ApiError;
use crate::input;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use gpubill_access::idempotency::{self, Claim, StoredAnswer};
use gpubill_platform::db::{DbError, with_conn};
use gpubill_platform::{PgPool, Shutdown};
use gpubill_schema::api::ErrorCode;
use sha2::{Digest, Sha256};
use std::future::Future;
use uuid::Uuid;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's idempotency key, if it sent one.
pub fn key_of(request: &ServiceRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key: visible ASCII only",
        )
    })?;
    input::client_key("Idempotency-Key", text).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            format!(
                "Idempotency-Key: 1 to {} characters, not only spaces",
                input::MAX_CLIENT_KEY_CHARS
            ),
        )
    })?;
    Ok(Some(text.to_owned()))
}

/// Answers `request` under `key` of `api_key_id`: from the stored answer, or by `answer` (the
/// rest of the chain), whose answer is then stored.
pub async fn answer<F, Fut>(
    state: &web::Data<AppState>,
    api_key_id: Uuid,
    key: String,
    mut request: ServiceRequest,
    answer: F,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
{
    let body = match request.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(error) => {
            let refusal =
                if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        limit_bytes: crate::body::MAX_BODY_BYTES,
                    }
                } else {
                    ApiError::bad_request(ErrorCode::InvalidBody, error.to_string())
                };
            return Ok(request.error_response(refusal));
        }
    };
    let digest = digest_of(&request, &body);
    let claimed = {
        let key = key.clone();
        with_conn(&state.pool, move |conn| {
            idempotency::claim(conn, api_key_id, &key, &digest, Utc::now()).map_err(ApiError::from)
        })
        .await
    };
    match claimed {
        Err(error) => return Ok(request.error_response(error)),
        Ok(Claim::Replay(stored)) => return Ok(request.into_response(replay(stored))),
        Ok(Claim::OtherRequest) => {
            return Ok(request.error_response(ApiError::conflict(
                ErrorCode::IdempotencyKeyReused,
                format!("Idempotency-Key `{key}` was used for another request"),
            )));
        }
        Ok(Claim::InProgress) => {
            return Ok(request.error_response(ApiError::conflict(
                ErrorCode::IdempotencyRequestInProgress,
                format!("a request with Idempotency-Key `{key}` is being answered; retry later"),
            )));
        }
        Ok(Claim::Claimed) => {}
    }
    request.set_payload(payload_of(body));
    let response = answer(request).await?;
    keep(state, api_key_id, key, response).await
}

/// How often the keys past their lifetime are deleted.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes the keys past their lifetime every [`PURGE_EVERY`] until `shutdown`, so the table
/// holds about a day of keys. A failure is logged and tried again at the next turn.
pub fn spawn_purge(pool: PgPool, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(PURGE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.triggered() => break,
            }
            let purged = with_conn(&pool, |conn| {
                idempotency::purge(conn, Utc::now()).map_err(DbError::from)
            });
            match purged.await {
                Ok(0) => {}
                Ok(purged) => {
                    tracing::debug!(purged, "idempotency keys past their lifetime deleted")
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot delete the idempotency keys past their lifetime")
                }
            }
        }
    })
}

/// SHA-256 of the method, the path and query, and the body.
fn digest_of(request: &ServiceRequest, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(request.method().as_str());
    hasher.update(b"\n");
    hasher.update(request.uri().to_string());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().into()
}

fn payload_of(body: web::Bytes) -> Payload {
    let (_, mut payload) = actix_http::h1::Payload::create(true);
    payload.unread_data(body);
    Payload::from(payload)
}

fn replay(stored: StoredAnswer) -> HttpResponse {
    #[allow(clippy::expect_used)] // an invariant of the table, not an operating error
    let status = StatusCode::from_u16(stored.status)
        .expect("the table's CHECK keeps a stored status within 100..=599");
    let mut response = HttpResponse::build(status);
    if let Some(content_type) = stored.content_type {
        response.insert_header((CONTENT_TYPE, content_type));
    }
    response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    response.body(stored.body)
}

/// Stores the answer (or gives the key back after a failure of the server's own) and returns it.
async fn keep(
    state: &web::Data<AppState>,
    api_key_id: Uuid,
    key: String,
    response: ServiceResponse<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (request, response) = response.into_parts();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (head, body) = response.into_parts();
    let body = actix_web::body::to_bytes(body)
        .await
        .map_err(|error| ApiError::Internal(format!("reading the answer: {error}")))?;
    let answer = StoredAnswer {
        status: status.as_u16(),
        content_type,
        body: body.to_vec(),
    };
    let kept = with_conn(&state.pool, move |conn| {
        if answer.status >= 500 {
            idempotency::release(conn, api_key_id, &key)
        } else {
            idempotency::store(conn, api_key_id, &key, &answer)
        }
        .map_err(ApiError::from)
    })
    .await;
    if let Err(error) = kept {
        tracing::error!(%error, "cannot keep the answer of an idempotent request");
    }
    Ok(ServiceResponse::new(request, head.set_body(body.boxed())))
}
