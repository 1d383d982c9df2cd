//! `GET /v1/audit?tenant=&key=&action=&from=&to=&before=&limit=` (admin, finance): the audit
//! trail, newest first: every state-changing request and command, with its caller, action,
//! targets, request id and status. `tenant` matches the target's tenant or the key's; `before`
//! is the id of the last row of the previous page.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::parse_limit;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use gpubill_access::audit::{self, AuditEntry, AuditFilter};
use gpubill_platform::db::with_conn;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    tenant: Option<String>,
    key: Option<Uuid>,
    action: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AuditResponse {
    entries: Vec<AuditEntry>,
}

pub async fn audit_list(
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        tenant: query.tenant,
        key_id: query.key,
        action: query.action,
        from: query.from,
        to: query.to,
        before_id: query.before,
        limit: parse_limit(query.limit)?,
    };
    let entries = with_conn(&state.pool, move |conn| {
        audit::list(conn, &filter).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AuditResponse { entries }))
}
