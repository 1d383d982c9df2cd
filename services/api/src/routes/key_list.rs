//! `GET /v1/api-keys?limit=` (admin): every key, newest first, without secrets or hashes: id,
//! role, bound tenant or node, display prefix, label, creator, creation, expiry, revocation and
//! last use.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::parse_limit;
use actix_web::{HttpResponse, web};
use gpubill_access::{StoredKey, keys};
use gpubill_platform::db::with_conn;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyListQuery {
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct KeyListResponse {
    keys: Vec<StoredKey>,
}

pub async fn key_list(
    state: web::Data<AppState>,
    query: web::Query<KeyListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(query.limit)?;
    let keys = with_conn(&state.pool, move |conn| {
        keys::list(conn, limit).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(KeyListResponse { keys }))
}
