//! `POST /v1/api-keys/{id}/revoke` (admin): revokes a key, at once on this instance and within
//! `auth.key_refresh_ms` on the others. 200 with the key; revoking it again changes nothing and
//! answers the same key with its first revocation time.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use uuid::Uuid;

#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/revoke",
    tag = "keys",
    summary = "Revoke an API key",
    operation_id = "key_revoke",
    params(("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked (at its first revocation time)", body = gpubill_access::StoredKey),
    )
)]
pub async fn key_revoke(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .authenticator
        .revoke(id.into_inner(), Utc::now())
        .await?;
    Ok(HttpResponse::Ok().json(revoked.key))
}
