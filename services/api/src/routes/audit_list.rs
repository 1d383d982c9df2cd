//! `GET /v1/audit?tenant=&key=&action=&from=&to=&limit=&cursor=` (admin, finance): the audit
//! trail, newest first, a page at a time: every state-changing request and command, with its
//! caller, action, targets, request id and status. `tenant` matches the target's tenant or the
//! key's.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{invalid_cursor, parse_cursor, parse_limit};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use gpubill_access::audit::{self, AuditEntry, AuditFilter};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::Page;
use gpubill_schema::api::page::fetch_limit;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    tenant: Option<String>,
    key: Option<Uuid>,
    action: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// Rows per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    summary = "The audit trail",
    operation_id = "audit_list",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the audit trail, newest first", body = gpubill_schema::api::Page<AuditEntry>),
    )
)]
pub async fn audit_list(
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = parse_limit(query.limit)?;
    let before_id = match parse_cursor(query.cursor.as_deref(), 1)? {
        Some(parts) => Some(parts[0].parse::<i64>().map_err(|_| invalid_cursor())?),
        None => None,
    };
    let filter = AuditFilter {
        tenant: query.tenant,
        key_id: query.key,
        action: query.action,
        from: query.from,
        to: query.to,
        before_id,
        limit: fetch_limit(limit),
    };
    let rows = with_conn(&state.pool, move |conn| {
        audit::list(conn, &filter).map_err(ApiError::from)
    })
    .await?;
    Ok(
        HttpResponse::Ok().json(Page::of(rows, limit, |entry: &AuditEntry| {
            vec![entry.id.to_string()]
        })),
    )
}
