//! `GET /v1/api-keys?limit=&cursor=` (admin): keys newest first, a page at a time, without
//! secrets or hashes: id, role, bound tenant or node, display prefix, label, creator, creation,
//! expiry, revocation and last use.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{cursor_instant, instant_of, invalid_cursor, parse_cursor, parse_limit};
use actix_web::{HttpResponse, web};
use gpubill_access::{StoredKey, keys};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::Page;
use gpubill_schema::api::page::fetch_limit;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyListQuery {
    /// Rows per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "keys",
    summary = "API keys",
    operation_id = "key_list",
    params(KeyListQuery),
    responses(
        (status = 200, description = "A page of the keys, newest first", body = gpubill_schema::api::Page<StoredKey>),
    )
)]
pub async fn key_list(
    state: web::Data<AppState>,
    query: web::Query<KeyListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(query.limit)?;
    let after = match parse_cursor(query.cursor.as_deref(), 2)? {
        Some(parts) => Some((
            instant_of(&parts[0])?,
            parts[1].parse().map_err(|_| invalid_cursor())?,
        )),
        None => None,
    };
    let rows = with_conn(&state.pool, move |conn| {
        keys::list(conn, after, fetch_limit(limit)).map_err(ApiError::from)
    })
    .await?;
    Ok(
        HttpResponse::Ok().json(Page::of(rows, limit, |key: &StoredKey| {
            vec![cursor_instant(&key.created_at), key.id.to_string()]
        })),
    )
}
